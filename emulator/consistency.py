"""Eventual consistency (EC2 developer guide, "Eventual consistency in the Amazon EC2 API"): what Describe* sees lags
what the account holds.

"If you run a command to modify or describe the resource that you just created, its ID might not have propagated
throughout the system, and you will get an error responding that the resource does not exist." So here:

- a snapshot, volume or image created by a request stays out of Describe* listings and filters for `listing_delay`
  seconds; by id it is `...NotFound` meanwhile (and, with `mutations_see_delay`, so it is for calls that act on it);
- a tag change made by a request (CreateTags, DeleteTags, a TagSpecification) stays unseen by Describe*, DescribeTags
  and tag filters for `tag_delay` seconds: they see the tag's previous value (or its absence) until then;
- a snapshot, volume or image deleted by a request is still listed for `deleted_listing_delay` seconds, as it was just
  before (a volume as `deleting`); by id too. AWS publishes no such delay; it is the emulator's choice that a deleted
  resource can linger, as the guide's "might not be immediately visible" allows.

Only what a request does is delayed: seeding and control calls are seen at once. Each delay is drawn uniformly in its
[lo, hi] from one seeded sequence. `settle()` ends every delay now; `strict.CLOCK.advance` moves time on.
Moto's state is the truth and is never held back: the lag exists only in what the Describe* answers show.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from emulator import strict
from emulator.exceptions import InvalidAmiNotFound, InvalidSnapshotNotFound, InvalidVolumeNotFound

NOT_FOUND = {"snap-": InvalidSnapshotNotFound, "vol-": InvalidVolumeNotFound, "ami-": InvalidAmiNotFound}

_scope = threading.local()


@contextmanager
def request_scope(action: str) -> Iterator[None]:
    """Marks what runs inside as done by an API request (delayed), not by seeding or a control call (seen at once)."""
    _scope.action = action
    try:
        yield
    finally:
        _scope.action = None


def in_request() -> bool:
    return bool(getattr(_scope, "action", None))


def reading() -> bool:
    """Whether the request running is a Describe*: only those see the lag (a Create* answers with what it set)."""
    action = getattr(_scope, "action", None)
    return bool(action) and str(action).startswith("Describe")


@dataclass
class Ghost:
    """A deleted resource still listed until `until`."""

    account_id: str
    region: str
    kind: str
    resource: Any
    until: float


class Visibility:
    """When each new resource and each tag change becomes visible, and which deleted resources are still listed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(0)
        self._appear_at: dict[str, float] = {}
        self._ghosts: dict[str, Ghost] = {}
        # resource id -> tag key -> [(visible at, value before the change or None)], oldest first
        self._tag_changes: dict[str, dict[str, list[tuple[float, str | None]]]] = {}
        self._pending_tag_keys: dict[str, set[str]] = {}  # tag key -> resource ids with a change not yet visible

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._rng = random.Random(seed)

    def _draw(self, bounds: tuple[float, float]) -> float:
        lo, hi = bounds
        return lo if hi <= lo else self._rng.uniform(lo, hi)

    # --- new resources --------------------------------------------------------------------------------------
    def created(self, resource_id: str) -> None:
        """A request made this resource: it joins the listings after `listing_delay`."""
        bounds = strict.SETTINGS.listing_delay
        if not in_request() or bounds[1] <= 0:
            return
        with self._lock:
            self._appear_at[resource_id] = strict.CLOCK.monotonic() + self._draw(bounds)

    def hidden(self, resource_id: str) -> bool:
        """Whether this resource is still missing from the listings (and by-id lookups)."""
        if not self._appear_at:
            return False
        with self._lock:
            at = self._appear_at.get(resource_id)
            if at is None:
                return False
            if strict.CLOCK.monotonic() >= at:
                del self._appear_at[resource_id]
                return False
            return True

    def refuse_hidden(self, resource_ids: list[str]) -> None:
        """Raise the resource's `...NotFound` for the first id not yet visible."""
        for resource_id in resource_ids:
            if self.hidden(resource_id):
                raise not_found(resource_id)

    # --- deleted resources ----------------------------------------------------------------------------------
    def deleted(self, backend: Any, kind: str, resource: Any) -> bool:
        """A request deleted this resource: it stays listed for `deleted_listing_delay`. Whether it does."""
        bounds = strict.SETTINGS.deleted_listing_delay
        if not in_request() or bounds[1] <= 0:
            return False
        with self._lock:
            until = strict.CLOCK.monotonic() + self._draw(bounds)
            self._ghosts[resource.id] = Ghost(backend.account_id, backend.region_name, kind, resource, until)
        return True

    def ghosts(self, backend: Any, kind: str) -> dict[str, Any]:
        """The deleted resources of this kind still listed in this backend's account and region, by id."""
        if not self._ghosts:
            return {}
        now = strict.CLOCK.monotonic()
        with self._lock:
            for gone in [i for i, g in self._ghosts.items() if g.until <= now]:
                del self._ghosts[gone]
            return {
                i: g.resource
                for i, g in self._ghosts.items()
                if g.kind == kind and g.account_id == backend.account_id and g.region == backend.region_name
            }

    def is_ghost(self, resource_id: str) -> bool:
        with self._lock:
            ghost = self._ghosts.get(resource_id)
            return ghost is not None and ghost.until > strict.CLOCK.monotonic()

    # --- tags -----------------------------------------------------------------------------------------------
    def tag_changing(self, resource_id: str, key: str, previous: str | None) -> None:
        """A request is about to change (or remove) this tag; until the change is visible, readers see `previous`."""
        bounds = strict.SETTINGS.tag_delay
        if not in_request() or bounds[1] <= 0:
            return
        with self._lock:
            changes = self._tag_changes.setdefault(resource_id, {}).setdefault(key, [])
            visible_at = strict.CLOCK.monotonic() + self._draw(bounds)
            if changes:
                # A later change never shows before an earlier one of the same tag.
                visible_at = max(visible_at, changes[-1][0])
            changes.append((visible_at, previous))
            self._pending_tag_keys.setdefault(key, set()).add(resource_id)

    def visible_tags(self, resource_id: str, tags: dict[str, str]) -> dict[str, str]:
        """The tags readers see now: `tags` (the truth) with every change not yet visible undone (Describe* only)."""
        if not self._tag_changes or not reading():
            return dict(tags)
        with self._lock:
            pending = self._tag_changes.get(resource_id)
            if not pending:
                return dict(tags)
            now = strict.CLOCK.monotonic()
            seen = dict(tags)
            for key in list(pending):
                changes = [c for c in pending[key] if c[0] > now]
                if not changes:
                    del pending[key]
                    self._pending_tag_keys.get(key, set()).discard(resource_id)
                    continue
                pending[key] = changes
                previous = changes[0][1]
                if previous is None:
                    seen.pop(key, None)
                else:
                    seen[key] = previous
            if not pending:
                del self._tag_changes[resource_id]
            return seen

    def pending_tag_holders(self, key: str) -> set[str]:
        """Resources with a change of this tag not yet visible (they may still show an old value)."""
        with self._lock:
            return set(self._pending_tag_keys.get(key, ()))

    # --- all ------------------------------------------------------------------------------------------------
    def settle(self) -> None:
        """Every delay ends now: new resources and tag changes are visible, deleted resources gone."""
        with self._lock:
            self._appear_at.clear()
            self._ghosts.clear()
            self._tag_changes.clear()
            self._pending_tag_keys.clear()

    def clear(self) -> None:
        self.settle()
        self.reseed(0)


VISIBILITY = Visibility()


def not_found(resource_id: str) -> Exception:
    """The `...NotFound` error EC2 answers for a missing resource of this id's type."""
    for prefix, error in NOT_FOUND.items():
        if resource_id.startswith(prefix):
            return error(resource_id)
    return InvalidSnapshotNotFound(resource_id)


# Calls that act on a resource named by id, and the request fields naming it: with `mutations_see_delay`, refused with
# the resource's NotFound while it is not yet visible (the guide: "modify ... the resource that you just created").
ACTS_ON = {
    "AttachVolume": ("VolumeId",),
    "CopySnapshot": ("SourceSnapshotId",),
    "CreateSnapshot": ("VolumeId",),
    "CreateTags": ("ResourceId.",),
    "CreateVolume": ("SnapshotId",),
    "DeleteSnapshot": ("SnapshotId",),
    "DeleteTags": ("ResourceId.",),
    "DeleteVolume": ("VolumeId",),
    "DeregisterImage": ("ImageId",),
    "DetachVolume": ("VolumeId",),
    "LockSnapshot": ("SnapshotId",),
    "ModifySnapshotAttribute": ("SnapshotId",),
    "ModifySnapshotTier": ("SnapshotId",),
    "ModifyVolume": ("VolumeId",),
    "RestoreSnapshotTier": ("SnapshotId",),
}


def refuse_unseen_targets(action: str, params: dict[str, str]) -> None:
    """With `mutations_see_delay`: raise NotFound when a call acts on a resource not yet visible."""
    fields = ACTS_ON.get(action)
    if not fields or not strict.SETTINGS.mutations_see_delay:
        return
    named = [v for k, v in params.items() if any(k == f or (f.endswith(".") and k.startswith(f)) for f in fields)]
    VISIBILITY.refuse_hidden(named)
