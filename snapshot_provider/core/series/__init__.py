"""What a SnapshotSeries does: a rolling series of snapshots of one volume (or one instance's set), pruned by a
retention policy.

A new `trigger` value (a nightly job runs `pulumi up` with today's date) takes a new snapshot through the shared
lifecycle (take, wait until completed, hand over; an interrupted take is finished by the next run), then the
pruning planner (`core.pruning`) decides what to keep, archive and delete, and `prune` carries it out. A trigger change
is an update in place: the series keeps its state and its earlier snapshots.

Besides the lifecycle's two tags, the series' snapshots carry:

- `pulumi-snapshot:series`: the series' id (its Pulumi id, new for every series created, so that a replacement, or a
  series created again after `retain_on_delete`, never takes an older series' snapshots for its own);
- `pulumi-snapshot:point`: which take made it (the members of an instance's set share one), and for which inputs
  (`take_key`: the trigger and source).

Both are set by the request that takes the snapshot (TagSpecifications), so that even a take that never finished
(timed out, killed) carries the series' id. What follows:

- A series lists, archives and deletes only snapshots tagged with its own id and `recorded` (`owned`), or that its
  state records (EC2 shows a `recorded` tag written moments ago only after a delay); never the newest completed one;
  never one an AMI uses (kept, and reported in `in_use`).
- A take that did not finish is the lifecycle's leftover: the next take adopts it if it can stand for the new one,
  or takes a new snapshot and, once that is handed over, deletes it. A leftover tagged with another series' id (a
  series replaced, or kept by `retain_on_delete`) is that series', and left alone.
- `delete` (destroy, or the old side of a replace) deletes the snapshots tagged with the series' id, handed over or
  not, and those its state records (EC2 may not show their tags yet), and nothing else; the `retain_on_delete`
  resource option keeps them all.
- A snapshot the series deleted and its user recovered from the Recycle Bin (same id, same tags) is theirs: the
  series remembers what it deleted for the Recycle Bin's longest retention (`pruned`) and leaves those alone; once
  it sees one listed again, it lets go of it for good (`let_go_of_recovered`: removes the provider's tags from it, so
  that no later run or destroy matches it, and forgets it).
- A run that fails after its take was handed over (a tag change EC2 refuses, an AMI lookup) leaves state as it was,
  trigger included. The next run for the same inputs finds that take by its point tag (`taken_already`) and uses it
  rather than taking a second snapshot for one trigger, which retention would count as a point of its own.
- Pruning runs when the series is created or updated (a new trigger, a new policy), never on an `up` that changes
  nothing. `diff` (so `pulumi preview`) says what the next `up` would archive and delete, or that it cannot know yet.

Modules, by job: `operations` (the resource's operations and outputs, for both front doors), `survey` (what the series
has: list, AMIs, points), `take` (a new point through the lifecycle), `prune` (carry out the planner's plan), `run`
(take, then prune), `outputs` (state), `preview` (what the next `up` would do), `lines` (messages next to the resource).
"""
