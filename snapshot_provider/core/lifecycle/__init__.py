"""The lifecycle every snapshot resource shares (its modules, by job: `shapes`, `provider`, `create`, `taking`,
`leftovers`, `completion`, `existing`): create (or finish this resource's interrupted create), wait, hand
over; bring tags and tier to the inputs; read; delete. Each resource supplies a `Kind`: what differs (`ebs_snapshot`
and `instance_snapshots`: each resource's kind, operations and outputs, for both front doors).

Two tags tie a snapshot to the resource that took it:

- `pulumi-snapshot:resource`: a hash of the resource's URN (so the same name under another parent is another
  resource);
- `pulumi-snapshot:attempt`: the id of the request that made it (each CreateSnapshot(s) request has its own) until
  the create hands the completed snapshot to Pulumi, which records it in state; then `recorded`.

A create:

- first looks for this resource's snapshots that are not `recorded`. Only an interrupted create of this same resource
  leaves those (crash, timeout, lost answer). One that can stand for this create (same volume, description and
  Outpost, started within the timeout plus an hour) is adopted: its tags are brought to the inputs and the wait
  resumes. The others (another volume or description, too old, a second one of the same kind, ended in `error`)
  cannot be adopted: a new snapshot is taken, and once it is handed over they are reported, and kept. The resource
  tag is a hash of the URN, and a stack of the same project and stack name in another backend (a developer's local
  state beside CI's) has the same URNs: what carries the tag may be that stack's, in flight, and this provider
  deletes only what it can prove it made (see `tidy`). A caller may prove more (`ours`: a series' takes carry its
  id, recorded in its state); those are deleted, except what an AMI uses or an undo's hold keeps (see `discard`).
  That other stack's in-flight snapshot can still be adopted, as one of this resource's own: a limitation the
  docs state (docs/troubleshooting.md: two stacks of the same project and stack name in one account and region).
- makes each request only when the volume's limits allow it (`volume_limits`): one request per volume per 15 s and
  no more pending snapshots than EC2 allows; a refusal for either is waited out within the timeout.
- never repeats a request blindly. After an answer is lost (5xx, dropped connection, read timeout) it looks for the
  request's snapshots, by its attempt id, with backoff over EC2's consistency window (`waiting.consistency_window`:
  EC2 lists a new snapshot, and shows new tags, only after a delay). Only when nothing shows in
  that window does it ask again. A per-volume refusal of that second request is evidence the first one went through:
  it keeps looking. When more than one request may have made snapshots, every snapshot of those requests that is not
  the one handed over is deleted once the window has passed (the sweep).

EC2's tag delay decides what may be deleted or adopted. A snapshot whose `recorded` tag was set seconds ago may
still list with its attempt id, looking like a leftover. So:

- a leftover that was `pending` when seen was never handed over (a create hands over only `completed` snapshots),
  and nothing else records snapshots of this resource meanwhile (the engine runs one operation per resource): it may
  be adopted or deleted at once;
- a `completed` one may have been handed over moments ago: it is adopted or deleted only if a second look, a full
  consistency window after the first, still finds it with its attempt id (a `recorded` tag written before the first
  look is visible by then). Until then it is neither;
- what this create itself took and handed over, and what the caller knows to be recorded (a series' state), is never
  taken for a leftover;
- a failure while deleting leftovers is reported, never raised: by then the new snapshot is handed over, and a create
  that failed now would leave it outside state.

A `recorded` snapshot is never adopted: state holds it (the resource being replaced, for instance), or
`retain_on_delete` gave it to the user. So a replace always takes a new snapshot, and the engine deletes the old one
only after the new one completed. `delete` needs only the ids and the account selection from state; it never applies
today's input rules.
"""
