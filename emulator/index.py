"""Indexes over an account-region's EC2 state, so that lookups do not scan every snapshot or every tag.

moto answers DescribeSnapshots with a `volume-id` or tag filter by asking every snapshot for the filter's value, and a
tag by scanning every tag of the account (issue 18: at a few hundred snapshots the emulator, not the provider, set the
pace). Here each backend keeps: tag key -> value -> resource ids, and volume id -> snapshot ids. They only narrow the
candidates: the full filters still run on what they return, so answers are the same as moto's scan. Entries are never
trusted alone: a caller resolves ids against the backend (a deleted snapshot's id may linger, harmlessly).

Kept up to date by the patched `TagBackend.create_tags` / `delete_tags` (`emulator.patch`) and by every
`EmulatedSnapshot` at construction.
"""

from __future__ import annotations

import threading
from typing import Any

ATTRIBUTE = "_emulator_index"
WILDCARDS = ("*", "?", "[")  # fnmatch patterns, as moto matches filter values


class BackendIndex:
    """Tag and volume indexes of one EC2 backend (one account and region)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tags: dict[str, dict[str, set[str]]] = {}
        self._snapshots_by_volume: dict[str, set[str]] = {}

    def tag_set(self, resource_id: str, key: str, old: str | None, new: str | None) -> None:
        with self._lock:
            values = self._tags.setdefault(key, {})
            if old is not None:
                values.get(old, set()).discard(resource_id)
            if new is not None:
                values.setdefault(new, set()).add(resource_id)

    def holders(self, key: str, value: str | None = None) -> set[str]:
        """Ids of the resources whose tag `key` is `value` (any value when None)."""
        with self._lock:
            values = self._tags.get(key, {})
            if value is not None:
                return set(values.get(value, ()))
            return set().union(*values.values()) if values else set()

    def snapshot_added(self, volume_id: str, snapshot_id: str) -> None:
        with self._lock:
            self._snapshots_by_volume.setdefault(volume_id, set()).add(snapshot_id)

    def snapshots_of(self, volume_id: str) -> set[str]:
        with self._lock:
            return set(self._snapshots_by_volume.get(volume_id, ()))


def of(backend: Any) -> BackendIndex:
    """The backend's index, made on first use (a reset backend is a new object, with a new index)."""
    index = getattr(backend, ATTRIBUTE, None)
    if index is None:
        index = BackendIndex()
        setattr(backend, ATTRIBUTE, index)
    return index


def exact(values: list[str]) -> bool:
    """Filter values the index can answer: no EC2 wildcard (`*`, `?`)."""
    return all(isinstance(v, str) and not any(w in v for w in WILDCARDS) for v in values)


def narrowed_ids(backend: Any, filters: dict[str, list[str]], pending_tag_holders: Any) -> set[str] | None:
    """Ids of the snapshots that can match `filters`, from the indexes; None when no filter can be answered so.

    `pending_tag_holders(key)` adds resources whose tag change is not yet visible (they may still show the old value).
    """
    index = of(backend)
    narrowed: set[str] | None = None
    for name, values in filters.items():
        ids: set[str] | None = None
        if not exact(values):
            continue
        if name == "snapshot-id":
            ids = set(values)
        elif name == "volume-id":
            ids = set().union(*(index.snapshots_of(v) for v in values))
        elif name.startswith("tag:"):
            key = name[len("tag:") :]
            ids = set().union(*(index.holders(key, v) for v in values)) | pending_tag_holders(key)
        elif name == "tag-key":
            ids = set().union(*(index.holders(k) | pending_tag_holders(k) for k in values))
        if ids is not None:
            narrowed = ids if narrowed is None else narrowed & ids
    return narrowed
