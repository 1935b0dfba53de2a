"""The instance a snapshot pauses, as EC2 describes it, and how pausing it fails."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import HTTPClientError

from snapshot_provider.ec2.errors import SnapshotProviderError

# A request sent whose answer never came (a read timeout, a connection dropped mid-answer): it may have reached AWS.
# (A connection that could not be made, botocore's ConnectionError, sent nothing.)
LOST_ANSWER = HTTPClientError

# One tag per resource holding the instance stopped, `pulumi-snapshot:stopped-by:<resource token>`, from before
# StopInstances until after StartInstances: the only state that outlives a run killed in between (SIGKILL, a cancelled
# CI runner), so that the next run of the same resource starts the instance again. Its value says how far the stop
# went (`stopping`: asked for; `stopped`: EC2 showed the request stopped it) and names the launch that was
# stopped: EC2 changes an instance's LaunchTime at each start (EC2 API reference, Instance: "the time that the
# instance was last launched"), so a tag naming an older launch than the instance's is stale: its owner started it
# since, and any stop now is theirs. An instance stopped without a tag of ours was stopped by its owner, and is never
# started by this provider. Earlier builds wrote this key alone (`<resource>/<attempt>@<LaunchTime>`): still read.
STOPPED_BY_TAG = "pulumi-snapshot:stopped-by"
POLL_SECONDS = 1.0  # between looks at an instance's state or a command's status

# An instance in one of these is in a change this provider did not make (EC2 user guide, instance state changes):
# its owner is starting, stopping or terminating it. Stopping it again and starting it afterwards would undo theirs.
IN_TRANSITION = ("pending", "stopping", "shutting-down")


class ConsistencyFailed(SnapshotProviderError):
    """Writes could not be paused (or the instance stopped) and `on_failure` is `fail`: nothing was taken."""


class ResumeFailed(SnapshotProviderError):
    """The post command did not succeed, or the instance did not start again: the instance is named."""


@dataclass(frozen=True)
class Attachment:
    """An instance and the volumes of it being snapshotted (volume id, device name), as EC2 describes them."""

    instance_id: str
    volumes: tuple[tuple[str, str], ...]
    root: bool  # one of them is the instance's root volume
    windows: bool
    state: str
    stopped_by: tuple[tuple[str, str], ...] = ()  # its STOPPED_BY_TAG tags (key, value): who of ours holds it stopped
    launched: str = ""  # its LaunchTime (ISO 8601): each start changes it
    stop_reason: str = ""  # its StateTransitionReason: "User initiated (<when>)" after a StopInstances

    @property
    def volume_id(self) -> str:
        """The volumes, for messages: `vol-a` or `vol-a, vol-b`."""
        return ", ".join(volume for volume, _ in self.volumes)


def attached_instances(ec2: Any, volume_id: str) -> list[tuple[str, str]]:
    """The instances `volume_id` is attached to, with its device name on each (several with Multi-Attach)."""
    [volume] = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
    return [
        (a["InstanceId"], a.get("Device", ""))
        for a in volume.get("Attachments", [])
        if a.get("State") in ("attaching", "attached")
    ]


def instance_attachment(ec2: Any, instance_id: str, volumes: list[tuple[str, str]]) -> Attachment:
    """`volumes` (volume id, device) of `instance_id`, with what EC2 says of the instance."""
    [reservation] = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    [instance] = reservation["Instances"]
    return Attachment(
        instance_id=instance_id,
        volumes=tuple(volumes),
        root=any(instance.get("RootDeviceName") == device for _, device in volumes),
        windows=instance.get("Platform") == "windows",
        state=instance["State"]["Name"],
        stopped_by=tuple(
            (t["Key"], t["Value"])
            for t in instance.get("Tags", [])
            if t["Key"] == STOPPED_BY_TAG or t["Key"].startswith(STOPPED_BY_TAG + ":")
        ),
        launched=_iso(instance.get("LaunchTime")),
        stop_reason=instance.get("StateTransitionReason", ""),
    )


def _iso(when: Any) -> str:
    return when.isoformat() if hasattr(when, "isoformat") else str(when or "")
