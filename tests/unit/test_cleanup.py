"""Reversible cleanup wiring: delete only with the opt-in, after the snapshot, its lock and its copies (Pulumi
mocks)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest
from pulumi_mocks import OptionsMonitor, Recorder, use

from snapshot_provider.components.cleanup import ReversibleVolumeCleanup, ReversibleVolumeCleanupArgs
from snapshot_provider.components.protection import ProtectionRefused
from snapshot_provider.components.tagging import SnapshotPolicy

POLICY = SnapshotPolicy(owner="finops", reason="unknown owner", retention_days=30)
BACKUP_ROLE = "arn:aws:iam::210987654321:role/backup"
GOVERNANCE_90 = {"mode": "governance", "duration_days": 90}


@pytest.fixture(autouse=True)
def stack_region(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_REGION", "us-east-1")  # the snapshot's region, as the stack's aws:region would give it
    yield


def with_options() -> OptionsMonitor:
    monitor = OptionsMonitor(Recorder())
    use(monitor.mocks, monitor)  # type: ignore[arg-type]
    return monitor


def protected_cleanup(**args: Any) -> ReversibleVolumeCleanup:
    return ReversibleVolumeCleanup(
        "stray",
        ReversibleVolumeCleanupArgs(
            volume_id="vol-01234567",
            policy=POLICY,
            confirm_delete_volume="vol-01234567",
            lock=GOVERNANCE_90,
            copies=[{"role_arn": BACKUP_ROLE, "region": "eu-west-1"}, {"region": "us-west-2"}],
            **args,
        ),
    )


@pulumi.runtime.test
def test_volume_is_deleted_only_after_its_snapshot_with_opt_in() -> Any:
    mocks = use(Recorder())
    cleanup = ReversibleVolumeCleanup(
        "stray",
        ReversibleVolumeCleanupArgs(volume_id="vol-01234567", policy=POLICY, confirm_delete_volume="vol-01234567"),
    )

    def check(values: list[Any]) -> None:
        deleted, removal_urn = values
        names = mocks.names()
        assert names.index("stray-delete-volume") > names.index("stray-snapshot")
        removal = mocks.named("stray-delete-volume")
        assert removal.inputs["snapshot_id"] == "snap-01234567"  # the completed snapshot's id, not a guess
        assert removal.inputs["confirm_delete_volume"] == "vol-01234567"
        # Its URN, so that the undo's progress lines show next to it.
        assert removal.inputs["resource_urn"].endswith(
            "ReversibleVolumeCleanup$pulumi-python:dynamic/ebs-snapshots:VolumeRemoval::stray-delete-volume"
        )
        snapshot = mocks.named("stray-snapshot")
        assert snapshot.inputs["tags"]["reason"] == "unknown owner" and snapshot.inputs["copy_volume_tags"] is True
        assert deleted == {
            "volume_id": "vol-01234567",
            "availability_zone": "us-east-1a",
            "size": 8,
            "volume_type": "gp3",
            "tags": {"team": "x"},
        }
        assert "ReversibleVolumeCleanup$pulumi-python:dynamic/ebs-snapshots:VolumeRemoval" in removal_urn

    assert cleanup.removal is not None and cleanup.deleted_volume is not None
    return pulumi.Output.all(cleanup.deleted_volume, cleanup.removal.urn).apply(check)


@pulumi.runtime.test
def test_without_opt_in_only_the_snapshot_is_taken() -> Any:
    mocks = use(Recorder())
    cleanup = ReversibleVolumeCleanup("stray", ReversibleVolumeCleanupArgs(volume_id="vol-01234567", policy=POLICY))
    assert cleanup.removal is None

    def check(_: Any) -> None:
        assert mocks.names() == ["stray", "stray-snapshot"]

    return cleanup.snapshot_id.apply(check)


@pulumi.runtime.test
def test_volume_is_deleted_only_after_the_locked_snapshot_and_every_copy() -> Any:
    monitor = with_options()
    cleanup = protected_cleanup()

    def check(urns: list[str]) -> None:
        _, snapshot_urn, *copy_urns = urns
        removal = monitor.requests["stray-delete-volume"]
        assert set(removal.dependencies) >= {snapshot_urn, *copy_urns} and len(copy_urns) == 2
        snapshot = monitor.requests["stray-snapshot"]
        assert snapshot.object["lock"] == GOVERNANCE_90
        backup = monitor.mocks.named("stray-copy-210987654321-eu-west-1")  # type: ignore[attr-defined]
        assert backup.typ == "pulumi-python:dynamic/ebs-snapshots:SnapshotCopy"
        assert {k: backup.inputs[k] for k in ("source_snapshot_id", "source_region", "region", "role_arn")} == {
            "source_snapshot_id": "snap-01234567",  # the completed, locked snapshot's id
            "source_region": "us-east-1",
            "region": "eu-west-1",
            "role_arn": BACKUP_ROLE,
        }
        assert backup.inputs["tags"]["reason"] == "unknown owner"
        assert monitor.mocks.named("stray-copy-us-west-2").inputs["region"] == "us-west-2"  # type: ignore[attr-defined]

    assert cleanup.removal is not None
    return pulumi.Output.all(cleanup.removal.urn, cleanup.snapshot.urn, *(c.urn for c in cleanup.copies)).apply(check)


@pulumi.runtime.test
def test_keeping_the_snapshot_on_undo_keeps_its_copies_too() -> Any:
    monitor = with_options()
    cleanup = protected_cleanup(keep_snapshot_on_undo=True)

    def check(_: Any) -> None:
        kept = [n for n, r in monitor.requests.items() if r.retainOnDelete]
        assert sorted(kept) == ["stray-copy-210987654321-eu-west-1", "stray-copy-us-west-2", "stray-snapshot"]

    return pulumi.Output.all(cleanup.snapshot.urn, *(c.urn for c in cleanup.copies)).apply(check)


@pulumi.runtime.test
def test_a_cleanup_without_lock_or_copies_leaves_the_snapshot_inputs_as_before() -> Any:
    monitor = with_options()
    cleanup = ReversibleVolumeCleanup(
        "stray",
        ReversibleVolumeCleanupArgs(volume_id="vol-01234567", policy=POLICY, confirm_delete_volume="vol-01234567"),
    )

    def check(_: Any) -> None:
        assert "lock" not in monitor.requests["stray-snapshot"].object
        assert [r.type for r in monitor.requests.values() if "SnapshotCopy" in r.type] == []

    assert cleanup.copies == [] and cleanup.removal is not None
    return pulumi.Output.all(cleanup.snapshot.urn, cleanup.removal.urn).apply(check)


@pytest.mark.parametrize(
    "args,words",
    [
        ({"lock": {"duration_days": 90}}, "stray: lock: mode must be 'governance' or 'compliance'"),
        (
            {"copies": [{"kms_key_id": "alias/backup"}]},
            "stray: copies[0]: give region (another region) and/or role_arn",
        ),
    ],
)
def test_a_bad_lock_or_copy_target_is_refused_before_anything_is_registered(args: dict[str, Any], words: str) -> None:
    mocks = use(Recorder())
    with pytest.raises(ProtectionRefused, match=re.escape(words)):
        ReversibleVolumeCleanup("stray", ReversibleVolumeCleanupArgs(volume_id="vol-01234567", policy=POLICY, **args))
    assert mocks.names() == []
