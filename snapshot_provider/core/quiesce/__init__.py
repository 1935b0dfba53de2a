"""Complete snapshots: pause a volume's writes around its CreateSnapshot request, or stop its instance.

The modules, by job: `pausing` (around a request: which way, and the `on_failure` fallback), `commands` (SSM Run
Command: send, find a command whose SendCommand answer was lost, wait), `default_scripts` (the default Linux freeze and
thaw), `stopping` (stop and start an instance with its stopped-by tags, one per resource), `instance` (what EC2 says
of the instance, and how pausing fails).

The EC2 CreateSnapshot reference: a snapshot holds what was written when it was requested, not what an application
or the OS still caches; pause the file systems long enough to issue the request (the volume can be used again as soon
as the request is in, while the snapshot is still `pending`), and stop the instance first for a root volume. AWS Data
Lifecycle Manager does the same through Systems Manager pre and post scripts, and falls back to a crash-consistent
snapshot when the pre script fails, if asked to ("ExecuteOperationOnScriptFailure", DLM API reference, Script).

`consistency`:
- `crash` (default): the request only, as before.
- `frozen`: the pre command through SSM Run Command (default: `fsfreeze -f` of the volume's mounted file systems on
  Linux, with a timer on the instance that thaws them after `max_pause_seconds` whatever happens to this process),
  the request, then the post command as soon as the request is answered (not after `completed`). The post command
  runs whenever the pre command may have been sent (also when SendCommand's answer was lost: the command is looked
  up by a token in its Comment, and thawed anyway when SSM does not list it), also when the pre command or the
  request failed or the run was cancelled; a post command that does not succeed is an error naming the instance.
- `stopped`: StopInstances, wait for `stopped`, the request, StartInstances once the request is answered (always,
  also when the request failed or StopInstances' answer was lost; not at all with `leave_stopped`, for an instance
  being decommissioned), unless another resource of ours still holds it stopped (its own tag: the last holder starts
  it); an instance that was already stopped is left stopped and not started, unless an unfinished run of the same
  resource stopped it (its STOPPED_BY_TAG, `stopped`: EC2 showed that run the instance stopped) or this resource
  joins another's stop of it. Every call but the request goes on a retrying client.

An instance in a change this provider did not make (`pending`, `stopping`, `shutting-down`: its owner is at work)
is left alone, and a volume attached to several instances (Multi-Attach: each of them writes) is not paused through
one of them: both go the `on_failure` way, with the instances named.

`on_failure`: `fail` (nothing is taken, the error says why) or `crash_consistent` (taken anyway, recorded as `crash`).
The consistency a snapshot got is its `pulumi-snapshot:consistency` tag (read back into the outputs); a volume no
instance has attached has no writer: `detached`.
"""

from __future__ import annotations
