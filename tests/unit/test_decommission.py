"""Safe decommission: stop strictly after the snapshot set, refusals on the set's outputs (Pulumi mocks)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest
from pulumi_mocks import OptionsMonitor, Recorder, use

from snapshot_provider.components.decommission import SafeDecommission, SafeDecommissionArgs, decommission_refusal
from snapshot_provider.components.protection import ProtectionRefused
from snapshot_provider.components.tagging import SnapshotPolicy

POLICY = SnapshotPolicy(owner="finops", reason="decommission", retention_days=90)
BACKUP_ROLE = "arn:aws:iam::210987654321:role/backup"
GOVERNANCE_90 = {"mode": "governance", "duration_days": 90}


@pytest.fixture(autouse=True)
def stack_region(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_REGION", "us-east-1")  # the snapshots' region, as the stack's aws:region would give it
    yield


@pytest.mark.parametrize(
    "ids,wait_time,expected,budget,words",
    [
        ({"vol-a": "snap-a"}, 10.0, ["vol-a"], None, None),
        ({"vol-a": "snap-a"}, 10.0, ["vol-a", "vol-b"], None, "vol-b"),
        ({}, 10.0, ["vol-a"], None, "snapshotted: none"),
        ({"vol-a": "snap-a"}, 900.0, [], 600.0, "over the budget of 600s"),
        ({"vol-a": "snap-a"}, 599.0, [], 600.0, None),
    ],
)
def test_decommission_refusal(
    ids: dict, wait_time: float, expected: list, budget: float | None, words: str | None
) -> None:
    refusal = decommission_refusal(ids, wait_time, expected, budget)
    assert (refusal is None) if words is None else (words in (refusal or ""))


@pulumi.runtime.test
def test_instance_is_stopped_after_the_snapshots_with_restore_instructions() -> Any:
    mocks = use(Recorder())
    decommission = SafeDecommission(
        "old-db",
        SafeDecommissionArgs(
            instance_id="i-01234567",
            policy=POLICY,
            expected_volume_ids=["vol-root0000", "vol-data0001"],
            max_wait_seconds=600,
            availability_zone="us-east-1a",
        ),
    )

    def check(values: list[Any]) -> None:
        restore, stop_urn, set_urn = values
        names = mocks.names()
        assert names.index("old-db-stop") > names.index("old-db-snapshots")
        stop = mocks.named("old-db-stop")
        assert stop.typ == "aws:ec2transitgateway/instanceState:InstanceState"
        assert stop.inputs == {"instanceId": "i-01234567", "state": "stopped"}
        snapshot_set = mocks.named("old-db-snapshots")
        assert (
            snapshot_set.typ == "pulumi-python:dynamic/ebs-snapshots:InstanceSnapshots"
            and snapshot_set.inputs["tags"]["reason"] == "decommission"
        )
        assert snapshot_set.inputs["copy_tags_from_source"] == "volume"
        assert "SafeDecommission$aws:ec2transitgateway" in stop_urn
        assert "SafeDecommission$pulumi-python:dynamic/ebs-snapshots:InstanceSnapshots" in set_urn
        assert restore[0]["command"] == (
            "aws ec2 create-volume --snapshot-id snap-root0000 --availability-zone us-east-1a"
        )

    assert decommission.stop is not None
    return pulumi.Output.all(decommission.restore, decommission.stop.urn, decommission.snapshot_set.urn).apply(check)


@pytest.mark.parametrize(
    "args,words",
    [
        ({"expected_volume_ids": ["vol-missing0"]}, "expected volumes have no snapshot: vol-missing0"),
        ({"max_wait_seconds": 10}, "over the budget"),
    ],
)
def test_refusal_keeps_the_instance_running(args: dict, words: str) -> None:
    mocks = use(Recorder(wait_time=42.0))

    @pulumi.runtime.test
    def program() -> Any:
        decommission = SafeDecommission("old-db", SafeDecommissionArgs(instance_id="i-01234567", policy=POLICY, **args))
        assert decommission.stop is not None
        return decommission.stop.id

    with pytest.raises(Exception, match=words):
        program()
    assert "old-db-stop" not in mocks.names()


@pulumi.runtime.test
def test_frozen_decommission_hands_consistency_to_the_snapshot_set() -> Any:
    mocks = use(Recorder())
    decommission = SafeDecommission(
        "old-db",
        SafeDecommissionArgs(
            instance_id="i-01234567", policy=POLICY, consistency="frozen", on_failure="crash_consistent"
        ),
    )

    def check(_: Any) -> None:
        inputs = mocks.named("old-db-snapshots").inputs
        assert (inputs["consistency"], inputs["on_failure"]) == ("frozen", "crash_consistent")
        assert mocks.names().index("old-db-stop") > mocks.names().index("old-db-snapshots")

    assert decommission.stop is not None
    return decommission.stop.urn.apply(check)


@pulumi.runtime.test
def test_a_decommission_stopped_for_its_snapshots_has_the_set_leave_the_instance_stopped() -> Any:
    mocks = use(Recorder())
    decommission = SafeDecommission(
        "old-db", SafeDecommissionArgs(instance_id="i-01234567", policy=POLICY, consistency="stopped")
    )

    def check(_: Any) -> None:
        inputs = mocks.named("old-db-snapshots").inputs
        assert (inputs["consistency"], inputs["leave_stopped"]) == ("stopped", True)

    return decommission.snapshot_set.urn.apply(check)


@pulumi.runtime.test
def test_a_decommission_that_does_not_stop_has_the_set_start_the_instance_again() -> Any:
    mocks = use(Recorder())
    decommission = SafeDecommission(
        "old-db", SafeDecommissionArgs(instance_id="i-01234567", policy=POLICY, consistency="stopped", stop=False)
    )

    def check(_: Any) -> None:
        inputs = mocks.named("old-db-snapshots").inputs
        assert inputs["consistency"] == "stopped" and "leave_stopped" not in inputs

    return decommission.snapshot_set.urn.apply(check)


@pulumi.runtime.test
def test_default_decommission_leaves_the_snapshot_set_inputs_as_before() -> Any:
    mocks = use(Recorder())
    decommission = SafeDecommission("old-db", SafeDecommissionArgs(instance_id="i-01234567", policy=POLICY))

    def check(_: Any) -> None:
        inputs = mocks.named("old-db-snapshots").inputs
        assert "consistency" not in inputs and "on_failure" not in inputs and "lock" not in inputs
        assert decommission.copies == []

    return decommission.snapshot_set.urn.apply(check)


@pulumi.runtime.test
def test_instance_is_stopped_only_after_the_locked_set_and_a_copy_of_each_expected_volume() -> Any:
    monitor = OptionsMonitor(Recorder())
    use(monitor.mocks, monitor)  # type: ignore[arg-type]
    decommission = SafeDecommission(
        "old-db",
        SafeDecommissionArgs(
            instance_id="i-01234567",
            policy=POLICY,
            expected_volume_ids=["vol-root0000", "vol-data0001"],
            lock=GOVERNANCE_90,
            copies=[{"role_arn": BACKUP_ROLE}],
        ),
    )

    def check(urns: list[str]) -> None:
        _, set_urn, *copy_urns = urns
        assert set(monitor.requests["old-db-stop"].dependencies) >= {set_urn, *copy_urns} and len(copy_urns) == 2
        assert monitor.requests["old-db-snapshots"].object["lock"] == GOVERNANCE_90
        sources = {
            name: monitor.mocks.named(name).inputs["source_snapshot_id"]  # type: ignore[attr-defined]
            for name in ("old-db-vol-root0000-copy-210987654321", "old-db-vol-data0001-copy-210987654321")
        }
        assert sources == {
            "old-db-vol-root0000-copy-210987654321": "snap-root0000",
            "old-db-vol-data0001-copy-210987654321": "snap-data0001",
        }

    assert decommission.stop is not None
    urns = (decommission.stop.urn, decommission.snapshot_set.urn, *(c.urn for c in decommission.copies))
    return pulumi.Output.all(*urns).apply(check)


def test_a_refused_stop_asks_for_no_copy() -> None:
    mocks = use(Recorder())

    @pulumi.runtime.test
    def program() -> Any:
        decommission = SafeDecommission(
            "old-db",
            SafeDecommissionArgs(
                instance_id="i-01234567",
                policy=POLICY,
                expected_volume_ids=["vol-missing0"],
                copies=[{"region": "eu-west-1"}],
            ),
        )
        return pulumi.Output.all(*(c.id for c in decommission.copies))

    with pytest.raises(Exception, match="expected volumes have no snapshot: vol-missing0"):
        program()
    assert [n for n in mocks.names() if "copy" in n or n == "old-db-stop"] == []


@pytest.mark.parametrize(
    "args,words",
    [
        ({"lock": {"duration_days": 90}}, "old-db: lock: mode must be 'governance' or 'compliance' (got None)"),
        ({"copies": [{}], "expected_volume_ids": ["vol-root0000"]}, "old-db: copies[0]: give region"),
        ({"copies": [{"region": "eu-west-1"}]}, "old-db: copies needs expected_volume_ids"),
    ],
)
def test_a_bad_lock_or_copy_target_is_refused_before_anything_is_registered(args: dict[str, Any], words: str) -> None:
    mocks = use(Recorder())
    with pytest.raises(ProtectionRefused, match=re.escape(words)):
        SafeDecommission("old-db", SafeDecommissionArgs(instance_id="i-01234567", policy=POLICY, **args))
    assert mocks.names() == []
