"""End to end, the way a user works: each test writes its own small Pulumi program (importing `snapshot_provider`),
runs the real Pulumi CLI against the local EC2 emulator, and checks what the emulator holds afterwards (snapshots,
their tags and descriptions) and the order of the calls the provider made, not only the stack's outputs.

The lifecycle under test is `snapshot_provider.core.lifecycle`'s: a replace always takes a new snapshot, and the old one
is deleted only after the new one completed and was marked `recorded`.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import boto3
import pytest
from stack_harness import PulumiStack, StackFactory, wait_for

from emulator import Call, Ec2Emulator
from snapshot_provider.core.lifecycle.shapes import ATTEMPT_TAG, RECORDED, RESOURCE_TAG, resource_token
from testbed import REGION

PENDING = 2.0
EBS_SNAPSHOT = "pulumi-python:dynamic/ebs-snapshots:EbsSnapshot"
INSTANCE_SNAPSHOTS = "pulumi-python:dynamic/ebs-snapshots:InstanceSnapshots"


@pytest.fixture
def emulator_settings() -> dict[str, Any]:
    return {"pending_seconds": PENDING}


def program(body: str) -> str:
    """A user's `__main__.py`."""
    return "import pulumi\nfrom snapshot_provider import EbsSnapshot, InstanceSnapshots\n\n" + textwrap.dedent(body)


def one_snapshot(volume_id: str, *, description: str, tags: dict[str, str] | None = None, opts: str = "None") -> str:
    return program(
        f"""
        snapshot = EbsSnapshot(
            "db-backup",
            volume_id={volume_id!r},
            description={description!r},
            tags={tags or {"team": "db"}!r},
            timeout=120,
            opts={opts},
        )
        pulumi.export("snapshot_id", snapshot.snapshot_id)
        """
    )


# --- what the emulator holds, and what was asked of it --------------------------------------------------------------
def held(emulator: Ec2Emulator) -> dict[str, dict[str, Any]]:
    """Every snapshot in the account, by id, with its description (read in process: no call in the log)."""
    backend = emulator.ec2_backend()
    return {
        s["snapshot_id"]: {**s, "description": backend.snapshots[s["snapshot_id"]].description}
        for s in emulator.snapshots()
    }


def output(result: Any) -> str:
    """The CLI's output in one piece, with diagnostics' line breaks undone."""
    return re.sub(r"\s+", " ", result.stdout + result.stderr)


def names(call: Call, prefix: str) -> set[str]:
    """The values of a call's list parameter (`ResourceId.1`, `Filter.1.Value.1`, ...) or scalar `prefix`."""
    return {v for k, v in call.params.items() if k == prefix or k.startswith(prefix + ".")}


def tags_set(call: Call) -> dict[str, str]:
    keys = {k.split(".")[1]: v for k, v in call.params.items() if re.fullmatch(r"Tag\.\d+\.Key", k)}
    return {v: call.params.get(f"Tag.{n}.Value", "") for n, v in keys.items()}


def index_of(calls: list[Call], matches: Callable[[Call], bool]) -> list[int]:
    return [i for i, c in enumerate(calls) if matches(c)]


def describes(call: Call, snapshot_id: str) -> bool:
    return call.action == "DescribeSnapshots" and snapshot_id in set(call.params.values())


def marks_recorded(call: Call, snapshot_id: str) -> bool:
    return (
        call.action == "CreateTags"
        and snapshot_id in names(call, "ResourceId")
        and tags_set(call).get(ATTEMPT_TAG) == RECORDED
    )


def deletes(call: Call, snapshot_id: str) -> bool:
    return call.action == "DeleteSnapshot" and call.params.get("SnapshotId") == snapshot_id


def assert_created_then_deleted(
    calls: list[Call], create_action: str, new_ids: Iterable[str], old_ids: Iterable[str]
) -> None:
    """One create request; each new snapshot seen (last DescribeSnapshots naming it) and marked `recorded`; only then
    each old snapshot deleted, once; no new one deleted."""
    [create] = index_of(calls, lambda c: c.action == create_action)
    handed_over = []
    for new_id in new_ids:
        last_look = max(index_of(calls, lambda c, n=new_id: describes(c, n)))
        [recorded] = index_of(calls, lambda c, n=new_id: marks_recorded(c, n))
        assert create < last_look < recorded, (create, last_look, recorded, [c.action for c in calls])
        assert not index_of(calls, lambda c, n=new_id: deletes(c, n)), f"{new_id} (the new one) was deleted"
        handed_over.append(recorded)
    for old_id in old_ids:
        [deleted] = index_of(calls, lambda c, o=old_id: deletes(c, o))
        assert deleted > max(handed_over), f"{old_id} deleted at call {deleted}, before the new set was handed over"


def changes_to(calls: list[Call], snapshot_id: str) -> list[Call]:
    """Calls that changed `snapshot_id`: tags, tier, deletion."""
    return [
        c
        for c in calls
        if c.mutating and (snapshot_id in names(c, "ResourceId") or c.params.get("SnapshotId") == snapshot_id)
    ]


def state_ids(stack: PulumiStack, type_: str = EBS_SNAPSHOT) -> list[str]:
    return sorted(r["id"] for r in stack.resources(type_))


# --- 1-3: a replace takes the new snapshot first, then deletes the old one ------------------------------------------
def assert_replaced(stack: PulumiStack, emulator: Ec2Emulator, old_id: str, description: str) -> dict[str, Any]:
    """The guarantee of every replace: exactly one snapshot remains, the new one, completed, described as asked,
    recorded in state, and the old one was deleted only after the new one completed."""
    snapshots = held(emulator)
    assert len(snapshots) == 1, snapshots  # the shipped bug: 0 remained
    [(new_id, new)] = snapshots.items()
    assert new_id != old_id
    assert new["state"] == "completed" and new["description"] == description
    assert new["tags"][ATTEMPT_TAG] == RECORDED
    [resource] = stack.resources(EBS_SNAPSHOT)
    assert resource["id"] == new_id and resource["outputs"]["snapshot_id"] == new_id
    assert resource["outputs"]["description"] == description
    assert new["tags"][RESOURCE_TAG] == resource_token(resource["urn"])
    assert stack.outputs()["snapshot_id"] == new_id
    assert_created_then_deleted(emulator.calls(), "CreateSnapshot", [new_id], [old_id])
    return new


def test_description_change_replaces_new_snapshot_first(new_stack: StackFactory, emulator: Ec2Emulator) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack = new_stack(one_snapshot(volume_id, description="before upgrade"))
    stack.up()
    [old_id] = held(emulator)

    stack.write_program(one_snapshot(volume_id, description="after upgrade"))
    emulator.clear_calls()
    stack.up()

    assert_replaced(stack, emulator, old_id, "after upgrade")


def test_forced_replace_with_unchanged_inputs_takes_a_new_snapshot_first(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack = new_stack(one_snapshot(volume_id, description="nightly"))
    stack.up()
    [old_id] = held(emulator)

    emulator.clear_calls()
    result = stack.up("--replace", stack.urn("db-backup"))

    assert_replaced(stack, emulator, old_id, "nightly")
    assert "adopting" not in output(result)  # the recorded snapshot is never taken for a leftover


def test_tags_and_description_changed_together_replace_with_the_new_tags(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack = new_stack(one_snapshot(volume_id, description="v1", tags={"team": "db", "tier": "gold"}))
    stack.up()
    [old_id] = held(emulator)

    stack.write_program(one_snapshot(volume_id, description="v2", tags={"team": "platform", "release": "2.0"}))
    emulator.clear_calls()
    stack.up()

    new = assert_replaced(stack, emulator, old_id, "v2")
    user_tags = {k: v for k, v in new["tags"].items() if not k.startswith("pulumi-snapshot:")}
    assert user_tags == {"team": "platform", "release": "2.0"}
    assert stack.resources(EBS_SNAPSHOT)[0]["outputs"]["tags"] == {"team": "platform", "release": "2.0"}
    # the old snapshot was not updated in place on the way: its only change was its deletion
    assert [c.action for c in changes_to(emulator.calls(), old_id)] == ["DeleteSnapshot"]


# --- 4: a replacement set that fails leaves the old set in place ---------------------------------------------------
def instance_set(instance_id: str, excluded: str) -> str:
    return program(
        f"""
        backup = InstanceSnapshots(
            "host-backup",
            instance_id={instance_id!r},
            exclude_data_volume_ids=[{excluded!r}],
            description="host backup",
            timeout=120,
        )
        pulumi.export("snapshot_ids", backup.snapshot_ids)
        """
    )


@pytest.mark.long
def test_failed_replacement_set_keeps_the_old_set_then_retry_replaces_it(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    instance = emulator.seed_instance(data_volumes=2)
    root, data0, data1 = instance["root_volume_id"], *(d["volume_id"] for d in instance["data_volumes"])
    stack = new_stack(instance_set(instance["instance_id"], excluded=data0))
    stack.up()
    old_set = {s["volume_id"]: sid for sid, s in held(emulator).items()}
    assert set(old_set) == {root, data1}
    [old_resource] = stack.resources(INSTANCE_SNAPSHOTS)

    # The user swaps which data volume is left out; EC2 fails the snapshot of the newly included one.
    stack.write_program(instance_set(instance["instance_id"], excluded=data1))
    emulator.configure(fail_volume_ids=[data0])
    emulator.clear_calls()
    failed = stack.up(check=False)

    assert failed.returncode != 0
    assert f"of volume {data0}" in output(failed) and "ended in state error" in output(failed)
    snapshots = held(emulator)
    assert set(snapshots) == set(old_set.values()), snapshots  # the failed new set was cleaned up, the old one kept
    assert all(s["state"] == "completed" and s["tags"][ATTEMPT_TAG] == RECORDED for s in snapshots.values())
    deleted = {c.params["SnapshotId"] for c in emulator.calls("DeleteSnapshot")}
    assert len(deleted) == 2 and not deleted & set(old_set.values())  # only the failed set's two went
    [resource] = stack.resources(INSTANCE_SNAPSHOTS)
    assert resource["id"] == old_resource["id"]
    assert resource["outputs"]["snapshot_ids"] == old_set
    assert stack.outputs()["snapshot_ids"] == old_set

    emulator.configure(fail_volume_ids=[])
    emulator.clear_calls()
    stack.up()

    new_set = {s["volume_id"]: sid for sid, s in held(emulator).items()}
    assert set(new_set) == {root, data0} and not set(new_set.values()) & set(old_set.values())
    assert all(s["state"] == "completed" for s in held(emulator).values())
    assert stack.resources(INSTANCE_SNAPSHOTS)[0]["outputs"]["snapshot_ids"] == new_set
    assert_created_then_deleted(emulator.calls(), "CreateSnapshots", new_set.values(), old_set.values())


# --- 5: the same name under two parents is two resources -----------------------------------------------------------
def two_named_s(volume_id: str, with_top_level: bool) -> str:
    top = f'top = EbsSnapshot("s", volume_id={volume_id!r}, description="nightly")\n' if with_top_level else ""
    return (
        program(
            f"""
        class Backup(pulumi.ComponentResource):
            def __init__(self, name, volume_id, opts=None):
                super().__init__("acme:storage:Backup", name, None, opts)
                self.snapshot = EbsSnapshot(
                    name, volume_id=volume_id, description="nightly", opts=pulumi.ResourceOptions(parent=self)
                )
                self.register_outputs({{"snapshot_id": self.snapshot.snapshot_id}})


        inner = Backup("s", {volume_id!r})
        """
        )
        + top
    )


def test_same_name_under_two_parents_is_two_snapshots(new_stack: StackFactory, emulator: Ec2Emulator) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack = new_stack(two_named_s(volume_id, with_top_level=True))
    result = stack.up()

    snapshots = held(emulator)
    resources = stack.resources(EBS_SNAPSHOT)
    assert len(snapshots) == 2 and len(resources) == 2, (snapshots, resources)
    assert {r["id"] for r in resources} == set(snapshots)
    for r in resources:  # each snapshot carries its own resource's token, so neither could adopt the other's
        assert snapshots[r["id"]]["tags"][RESOURCE_TAG] == resource_token(r["urn"])
    assert len({s["tags"][RESOURCE_TAG] for s in snapshots.values()}) == 2
    assert "adopting" not in output(result) and "left as they are" not in output(result)
    [top] = [r for r in resources if "acme:storage:Backup" not in r["urn"]]
    [inner] = [r for r in resources if "acme:storage:Backup" in r["urn"]]

    stack.write_program(two_named_s(volume_id, with_top_level=False))
    emulator.clear_calls()
    stack.up()

    assert [c.params["SnapshotId"] for c in emulator.calls("DeleteSnapshot")] == [top["id"]]
    assert emulator.calls("CreateSnapshot") == []
    assert list(held(emulator)) == [inner["id"]]
    assert state_ids(stack) == [inner["id"]]
    assert changes_to(emulator.calls(), inner["id"]) == []


# --- 6: delete_before_replace cannot make the old snapshot go first ------------------------------------------------
def test_delete_before_replace_is_ignored_with_a_warning(new_stack: StackFactory, emulator: Ec2Emulator) -> None:
    [volume_id] = emulator.seed_volumes(1)
    opts = "pulumi.ResourceOptions(delete_before_replace=True)"
    stack = new_stack(one_snapshot(volume_id, description="before", opts=opts))
    stack.up()
    [old_id] = held(emulator)

    stack.write_program(one_snapshot(volume_id, description="after", opts=opts))
    emulator.clear_calls()
    result = stack.up()

    assert_replaced(stack, emulator, old_id, "after")
    assert "EbsSnapshot: delete_before_replace is ignored; a replacement is always created and completed" in output(
        result
    )


# --- 7: a snapshot kept by retain_on_delete is the user's --------------------------------------------------------
def test_retained_snapshot_is_left_alone_when_the_resource_comes_back(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack = new_stack(
        one_snapshot(volume_id, description="keep me", opts="pulumi.ResourceOptions(retain_on_delete=True)")
    )
    stack.up()
    [(retained_id, retained)] = held(emulator).items()

    stack.run("destroy", "--yes")
    assert stack.resources() == []
    assert held(emulator) == {retained_id: retained}

    emulator.clear_calls()
    result = stack.up()

    snapshots = held(emulator)
    assert len(snapshots) == 2 and snapshots[retained_id] == retained  # untouched: same state, tags, description
    [new_id] = set(snapshots) - {retained_id}
    assert state_ids(stack) == [new_id] and snapshots[new_id]["tags"][ATTEMPT_TAG] == RECORDED
    assert len(emulator.calls("CreateSnapshot")) == 1
    assert changes_to(emulator.calls(), retained_id) == []
    assert (
        f"{retained_id}, taken earlier for this resource, are recorded in state or kept by retain_on_delete, and "
        "are left as they are" in output(result)
    )


# --- 8: a create that timed out is adopted, or replaced and deleted, never duplicated --------------------------------
def test_timed_out_create_is_adopted_or_else_kept_and_reported(new_stack: StackFactory, emulator: Ec2Emulator) -> None:
    emulator.configure(pending_seconds=30)
    [volume_id] = emulator.seed_volumes(1)

    def with_(description: str, timeout: float) -> str:
        return program(
            f"""
            snapshot = EbsSnapshot("db-backup", volume_id={volume_id!r}, description={description!r}, timeout={timeout})
            pulumi.export("snapshot_id", snapshot.snapshot_id)
            pulumi.export("wait_time", snapshot.wait_time)
            """
        )

    stack = new_stack(with_("before upgrade", timeout=2))
    timed_out = stack.up(check=False)
    assert timed_out.returncode != 0
    [(leftover_id, leftover)] = held(emulator).items()
    assert f"still pending ({leftover_id}" in output(timed_out) and "after the timeout of 2s" in output(timed_out)
    assert leftover["state"] == "pending" and leftover["tags"][ATTEMPT_TAG] != RECORDED
    assert stack.resources() == []

    stack.write_program(with_("before upgrade", timeout=120))  # the same inputs, a longer timeout: adopted
    adopted = stack.up()

    assert f"adopting {leftover_id}" in output(adopted)
    assert len(emulator.calls("CreateSnapshot")) == 1
    [(only_id, only)] = held(emulator).items()
    assert only_id == leftover_id and only["state"] == "completed" and only["tags"][ATTEMPT_TAG] == RECORDED
    assert stack.outputs()["wait_time"] >= 29  # from the leftover's start, not from the adoption

    stack.run("destroy", "--yes")
    stack.write_program(with_("before upgrade", timeout=2))
    assert stack.up(check=False).returncode != 0  # times out again
    [second_leftover] = held(emulator)
    emulator.configure(pending_seconds=PENDING)
    stack.write_program(with_("after upgrade", timeout=120))  # EC2 cannot change a description: not adoptable
    emulator.clear_calls()

    replaced = stack.up()

    # The leftover stays, reported with what to do: its tag (the URN's hash) may be another backend's stack's (RT-1).
    [new_id] = [sid for sid in held(emulator) if sid != second_leftover]
    assert held(emulator)[new_id]["description"] == "after upgrade" and second_leftover in held(emulator)
    assert state_ids(stack) == [new_id] and not emulator.calls("DeleteSnapshot")
    said = output(replaced)
    assert f"kept {second_leftover}" in said and f"delete-snapshot --snapshot-id {second_leftover}" in said, said


# --- 9: importing a failed snapshot is refused, and the snapshot stays ---------------------------------------------
def test_import_of_a_snapshot_in_error_state_fails_and_keeps_it(new_stack: StackFactory, emulator: Ec2Emulator) -> None:
    [volume_id] = emulator.seed_volumes(1)
    emulator.configure(pending_seconds=0, fail_volume_ids=[volume_id])
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id, Description="the user's own")["SnapshotId"]
    emulator.configure(fail_volume_ids=[])
    before = held(emulator)
    assert before[snapshot_id]["state"] == "error"
    stack = new_stack(
        program(
            f"""
            imported = EbsSnapshot("imported", volume_id={volume_id!r}, import_snapshot_id={snapshot_id!r})
            pulumi.export("snapshot_id", imported.snapshot_id)
            """
        )
    )
    emulator.clear_calls()

    result = stack.up(check=False)

    assert result.returncode != 0
    assert held(emulator) == before  # the user's snapshot is still there, as it was
    assert [c.action for c in emulator.calls() if c.mutating] == []
    assert stack.resources() == []
    text = output(result)
    assert f"import_snapshot_id {snapshot_id} is in state error" in text
    assert "It was left as it is; unset import_snapshot_id to take a new snapshot" in text


# --- 10: snapshots are waited for together, not 4 at a time -------------------------------------------------------
def test_many_snapshots_are_pending_at_once(new_stack: StackFactory, emulator: Ec2Emulator) -> None:
    count = 12
    emulator.configure(pending_seconds=8)
    volume_ids = emulator.seed_volumes(count)
    stack = new_stack(
        program(
            f"""
            for i, volume_id in enumerate({volume_ids!r}):
                EbsSnapshot(f"snap-{{i}}", volume_id=volume_id, description="fleet", timeout=600)
            """
        )
    )

    stack.up("--parallel", "16")

    snapshots = held(emulator)
    assert len(snapshots) == count and all(s["state"] == "completed" for s in snapshots.values())
    assert len(stack.resources(EBS_SNAPSHOT)) == count
    peak = emulator.peak_pending()
    print(f"\n{count} snapshots pending 8 s each, --parallel 16: at most {peak} pending at once")
    assert peak > 4, f"at most {peak} snapshots were pending at once: creates ran 4 at a time"


# --- 11: an imported snapshot is the user's: no replace or destroy deletes it ------------------------------------
def imported(volume_id: str, snapshot_id: str | None, description: str, tags: dict[str, str]) -> str:
    return program(
        f"""
        snapshot = EbsSnapshot(
            "golden",
            volume_id={volume_id!r},
            import_snapshot_id={snapshot_id!r},
            description={description!r},
            tags={tags!r},
            timeout=120,
        )
        pulumi.export("snapshot_id", snapshot.snapshot_id)
        """
    )


def test_an_imported_snapshot_outlives_replace_description_change_and_destroy(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    users = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url).create_snapshot(
        VolumeId=volume_id, Description="golden image"
    )["SnapshotId"]
    stack = new_stack(imported(volume_id, users, "golden image", {"team": "db"}))
    stack.up()
    assert state_ids(stack) == [users]

    replaced = stack.up("--replace", stack.urn("golden"))  # the replacement imports it again; the old side leaves it
    assert set(held(emulator)) == {users} and state_ids(stack) == [users]
    assert f"left {users} in place: it was recorded through import_snapshot_id" in output(replaced)

    stack.write_program(imported(volume_id, users, "another description", {"team": "db"}))
    emulator.clear_calls()
    refused = stack.up(check=False)  # EC2 cannot change a description: the import says so, nothing changes
    assert refused.returncode != 0
    assert "its description is 'golden image' and the description input says 'another description'" in output(refused)
    assert [c.action for c in emulator.calls() if c.mutating] == []
    assert set(held(emulator)) == {users} and state_ids(stack) == [users]

    stack.write_program(imported(volume_id, None, "a snapshot of our own", {"team": "db"}))
    stack.up()  # no import any more, another description: a new snapshot replaces the resource
    [taken] = set(held(emulator)) - {users}
    assert state_ids(stack) == [taken] and users in held(emulator)

    stack.run("destroy", "--yes")
    assert set(held(emulator)) == {users}


def test_import_of_another_resources_snapshot_is_refused_and_changes_nothing(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack = new_stack(one_snapshot(volume_id, description="nightly"))
    stack.up()
    [theirs] = held(emulator)
    before = held(emulator)

    stack.write_program(
        one_snapshot(volume_id, description="nightly")
        + f'EbsSnapshot("copy", volume_id={volume_id!r}, import_snapshot_id={theirs!r}, description="nightly")\n'
    )
    emulator.clear_calls()
    refused = stack.up(check=False)

    assert refused.returncode != 0
    assert f"import_snapshot_id {theirs} is managed by another Pulumi resource" in output(refused)
    assert [c.action for c in emulator.calls() if c.mutating] == [] and held(emulator) == before
    stack.run("destroy", "--yes")
    assert held(emulator) == {}


# --- 12: under EC2's own semantics (the strict mode) --------------------------------------------------------------


def test_a_lost_create_answer_under_a_long_listing_delay_makes_exactly_one_snapshot(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack = new_stack(one_snapshot(volume_id, description="nightly"))
    # seed 92: the first CreateSnapshot is carried out and its answer dropped; EC2 lists it 5-20 s later.
    stack.strict(emulator, listing_delay=(5, 20), seed=92, drop_rate=0.5, actions=["CreateSnapshot"])

    stack.up()

    [(snapshot_id, snapshot)] = held(emulator).items()
    assert snapshot["tags"][ATTEMPT_TAG] == RECORDED and state_ids(stack) == [snapshot_id]
    assert [c.fault for c in emulator.calls("CreateSnapshot")] == ["drop"]
    emulator.configure(drop_rate=0)
    stack.preview("--expect-no-changes")


def series_program(volume_id: str) -> str:
    return (
        "import pulumi\nfrom snapshot_provider import SnapshotSeries\n\n"
        "config = pulumi.Config()\n"
        f'series = SnapshotSeries("nightly", volume_id={volume_id!r}, trigger=config.require("day"), keep_last=3,\n'
        '                        timeout=config.require_float("timeout"))\n'
        'pulumi.export("snapshot_id", series.snapshot_id)\n'
    )


@pytest.mark.long
def test_a_series_take_that_timed_out_goes_with_the_next_trigger(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack = new_stack(series_program(volume_id))
    stack.strict(emulator, snapshot_interval_per_volume=0, pending_seconds=PENDING)
    stack.config(day="d1", timeout=120)
    stack.up()
    first = stack.outputs()["snapshot_id"]

    emulator.configure(pending_seconds=60)
    stack.config(day="d2", timeout=2)
    assert stack.up(check=False).returncode != 0  # the nightly take timed out
    [timed_out] = set(held(emulator)) - {first}
    emulator.configure(pending_seconds=PENDING)
    emulator.age_snapshot(timed_out, seconds_ago=2 * 3600)  # the next night: too old to stand for a new take

    stack.config(day="d3", timeout=120)
    stack.up()

    newest = stack.outputs()["snapshot_id"]
    assert set(held(emulator)) == {first, newest} and timed_out != newest
    assert all(s["tags"][ATTEMPT_TAG] == RECORDED for s in held(emulator).values())
    stack.preview("--expect-no-changes")


def test_destroying_a_series_after_a_timed_out_take_leaves_nothing_of_its_own(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    outside = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    stack = new_stack(series_program(volume_id))
    stack.strict(emulator, snapshot_interval_per_volume=0, pending_seconds=PENDING)
    stack.config(day="d1", timeout=120)
    stack.up()
    series_id = stack.resources()[0]["id"]
    emulator.configure(pending_seconds=60)
    stack.config(day="d2", timeout=2)
    assert stack.up(check=False).returncode != 0
    assert len(held(emulator)) == 3
    # The user destroys later (CI's cleanup job): by then EC2 lists the take under its tags. A destroy within EC2's
    # listing delay of the take could not see it (docs/troubleshooting.md, limitations).
    tagged = [{"Name": "tag:pulumi-snapshot:series", "Values": [series_id]}]
    wait_for(lambda: len(ec2.describe_snapshots(OwnerIds=["self"], Filters=tagged)["Snapshots"]) == 2, timeout=30)

    stack.run("destroy", "--yes")

    assert set(held(emulator)) == {outside}


def test_up_then_preview_and_refresh_show_no_change_for_every_resource(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    volumes = emulator.seed_volumes(2)
    instance = emulator.seed_instance(data_volumes=1)
    stack = new_stack(
        program(
            f"""
            from snapshot_provider import SnapshotSeries

            one = EbsSnapshot("one", volume_id={volumes[0]!r}, description="d", tags={{"team": "db"}},
                              copy_volume_tags=True, allowed_account_ids=["123456789012"])
            whole = InstanceSnapshots("whole", instance_id={instance["instance_id"]!r}, tags={{"team": "db"}},
                                      exclude_data_volume_ids=[{instance["data_volumes"][0]["volume_id"]!r}])
            nightly = SnapshotSeries("nightly", volume_id={volumes[1]!r}, trigger="d1", keep_last=2,
                                     tags={{"team": "db"}})
            """
        )
    )
    stack.strict(emulator, pending_seconds=PENDING, tag_delay=(8, 8))  # tags show well after the snapshots complete

    stack.up()

    stack.preview("--expect-no-changes")
    stack.run("refresh", "--yes", "--expect-no-changes")
    stack.preview("--expect-no-changes")


# --- RT-1: two stacks of the same project and stack name (two backends), one account -------------------------------
def test_an_up_under_a_second_backend_never_deletes_the_other_stacks_pending_snapshot(
    tmp_path: Path, bin_dir: Path, emulator: Ec2Emulator
) -> None:
    """Two teams (or a developer's local backend and CI's) run the same project with a stack named the same, in one
    account and region, their programs asking for other descriptions. Their URNs, and so the resource tags, are the
    same: each create sees the other's pending snapshot as an unadoptable leftover of its own. Each `up` must finish
    with its own snapshot: a leftover this provider cannot prove it made is reported, never deleted."""
    emulator.configure(pending_seconds=15.0)
    [volume_id] = emulator.seed_volumes(1)

    def team(name: str) -> PulumiStack:
        workdir = tmp_path / name  # its own directory, its own `file://` backend: stack `e2e` of `ebs-snapshots`
        workdir.mkdir()
        body = one_snapshot(volume_id, description=f"{name}: before migration").replace("timeout=120", "timeout=300")
        stack = PulumiStack(workdir, bin_dir, emulator.url, program=body, sts_url=emulator.sts_url)
        stack.config(**{"aws:region": REGION})
        return stack

    team_a, team_b = team("team-a"), team("team-b")
    running = team_a.start_up()
    try:
        wait_for(lambda: len(emulator.snapshots()) == 1, timeout=120)  # team A's snapshot is pending
        b_result = team_b.up(check=False)
        out, _ = running.communicate(timeout=300)
    finally:
        if running.poll() is None:
            running.kill()

    assert running.returncode == 0, f"team A's up failed:\n{out[-1500:]}"
    assert b_result.returncode == 0, f"team B's up failed:\n{b_result.stdout[-1500:]}"
    [a_snapshot], [b_snapshot] = state_ids(team_a), state_ids(team_b)
    assert a_snapshot != b_snapshot and set(held(emulator)) == {a_snapshot, b_snapshot}
    assert not emulator.calls("DeleteSnapshot")
