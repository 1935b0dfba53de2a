"""Retention and fresh snapshots under the real Pulumi CLI, on the emulator: `triggers` on EbsSnapshot and
InstanceSnapshots, and a SnapshotSeries run on five successive days (trigger values), with the days passed by aging
the series' snapshots between runs.

These fail in CI when the CLI is missing, and are skipped with the reason elsewhere (see stack_harness).
"""

from __future__ import annotations

from typing import Any

import pytest
from series_helpers import age, all_snapshot_ids, ec2, register_ami_using, series_snapshots
from stack_harness import PulumiStack

from emulator import Ec2Emulator

PENDING = 0.5


@pytest.fixture
def emulator_settings() -> dict[str, Any]:
    return {"pending_seconds": PENDING}


def mutating(emulator: Ec2Emulator) -> list[str]:
    return [c.action for c in emulator.calls() if c.mutating]


def shown(result: Any) -> str:
    return str(result.stdout) + str(result.stderr)


# --- triggers ------------------------------------------------------------------------------------------------------
@pytest.mark.long
def test_a_changed_trigger_replaces_the_snapshot_new_one_first(stack: PulumiStack, emulator: Ec2Emulator) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack.config(volume_id=volume_id, triggers={"release": "v1"})
    stack.up()
    first = stack.outputs()["snapshot_id"]
    emulator.clear_calls()
    stack.run("up", "--yes", "--expect-no-changes")  # the same trigger: nothing
    assert mutating(emulator) == []

    stack.config(triggers={"release": "v2"})
    preview = stack.preview()
    assert "+-1 to replace" in preview.stdout and "triggers" in preview.stdout
    emulator.clear_calls()
    stack.up()

    second = stack.outputs()["snapshot_id"]
    assert second != first
    assert {s["snapshot_id"] for s in emulator.snapshots()} == {second}
    actions = [c.action for c in emulator.calls()]
    assert mutating(emulator) == ["CreateSnapshot", "CreateTags", "DeleteSnapshot"]
    # the old one is deleted only after the new one was seen completed
    assert actions.index("DeleteSnapshot") > max(i for i, a in enumerate(actions) if a == "DescribeSnapshots")

    stack.config(retain_on_delete="true")  # the user keeps old snapshots: the option is recorded by an up
    stack.up()
    stack.config(triggers={"release": "v3"})
    stack.up()
    assert {s["snapshot_id"] for s in emulator.snapshots()} == {second, stack.outputs()["snapshot_id"]}


def test_a_changed_trigger_takes_a_whole_new_instance_set(stack: PulumiStack, emulator: Ec2Emulator) -> None:
    instance = emulator.seed_instance(data_volumes=1)
    stack.config(mode="instance", instance_id=instance["instance_id"], triggers={"date": "2026-03-01"})
    stack.up()
    first = set(stack.outputs()["snapshot_ids"].values())

    stack.config(triggers={"date": "2026-03-02"})
    stack.up()

    second = set(stack.outputs()["snapshot_ids"].values())
    assert len(second) == 2 and not first & second
    assert {s["snapshot_id"] for s in emulator.snapshots()} == second


# --- SnapshotSeries ----------------------------------------------------------------------------------------------
def day_row(day: int, outputs: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """One row of the table: the kept set (newest first, with tiers), and what the run archived and deleted."""
    return {
        "day": day,
        "kept": [
            f"{names[s['snapshot_id']]}{'(archive)' if s['tier'] == 'archive' else ''}" for s in outputs["snapshots"]
        ],
        "archived": [names[sid] for sid in outputs["archived"]],
        "deleted": [names[sid] for sid in outputs["deleted"]],
    }


EXPECTED_FIVE_DAYS = [
    {"day": 1, "kept": ["S1"], "archived": [], "deleted": []},
    {"day": 2, "kept": ["S2", "S1"], "archived": [], "deleted": []},
    {"day": 3, "kept": ["S3", "S2", "S1(archive)"], "archived": ["S1"], "deleted": []},
    {"day": 4, "kept": ["S4", "S3", "S2(archive)"], "archived": ["S2"], "deleted": ["S1"]},
    {"day": 5, "kept": ["S5", "S4", "S3(archive)"], "archived": ["S3"], "deleted": ["S2"]},
]


@pytest.mark.long
def test_series_on_five_days_keeps_archives_and_deletes_as_the_policy_says(
    stack: PulumiStack, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack.config(mode="series", volume_id=volume_id, keep_last=3, archive_after_days=2)
    names: dict[str, str] = {}
    rows = []
    series_id = ""
    for day in range(1, 6):
        if day > 1:
            age(emulator, [s["SnapshotId"] for s in series_snapshots(emulator, series_id)], days=1)
        stack.config(trigger=f"2026-03-0{day}")
        if day == 5:
            preview = shown(stack.preview())
            assert f"archive {names_of(names, 'S3')}: 2.0 days old, reached archive_after_days=2" in preview
            assert f"delete {names_of(names, 'S2')}: 4th newest, beyond keep_last=3" in preview
        stack.up()
        outputs = stack.outputs()
        series_id = outputs["series_id"]
        names[outputs["snapshot_id"]] = f"S{day}"
        rows.append(day_row(day, outputs, names))
        # what EC2 holds is what the outputs say
        held = {s["SnapshotId"]: s.get("StorageTier", "standard") for s in series_snapshots(emulator, series_id)}
        assert held == {s["snapshot_id"]: s["tier"] for s in outputs["snapshots"]}
        assert outputs["size_gib"] == {
            "standard": 8 * sum(s["tier"] == "standard" for s in outputs["snapshots"]),
            "archive": 8 * sum(s["tier"] == "archive" for s in outputs["snapshots"]),
        }

    print("\n| day | kept (newest first) | archived | deleted |\n|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['day']} | {', '.join(row['kept'])} | {', '.join(row['archived']) or '-'} | "
            f"{', '.join(row['deleted']) or '-'} |"
        )
    assert rows == EXPECTED_FIVE_DAYS
    assert len(emulator.calls("CreateSnapshot")) == 5


def names_of(names: dict[str, str], name: str) -> str:
    return next(sid for sid, n in names.items() if n == name)


def test_series_keeps_a_snapshot_an_ami_uses_and_reports_it(stack: PulumiStack, emulator: Ec2Emulator) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack.config(mode="series", volume_id=volume_id, keep_last=1, trigger="d1")
    stack.up()
    first = stack.outputs()["snapshot_id"]
    image_id = register_ami_using(emulator, first)
    age(emulator, [first], days=1)

    stack.config(trigger="d2")
    assert f"keep {first}: used by {image_id}" in shown(stack.preview())
    stack.up()

    outputs = stack.outputs()
    assert outputs["in_use"] == [{"snapshot_id": first, "image_ids": [image_id]}]
    assert [s["snapshot_id"] for s in outputs["snapshots"]] == [outputs["snapshot_id"], first]
    assert outputs["deleted"] == [] and first in all_snapshot_ids(emulator)


def test_series_destroy_deletes_its_snapshots_and_nothing_else(stack: PulumiStack, emulator: Ec2Emulator) -> None:
    [volume_id] = emulator.seed_volumes(1)
    outside = ec2(emulator).create_snapshot(VolumeId=volume_id, Description="taken outside the series")["SnapshotId"]
    stack.config(mode="series", volume_id=volume_id, keep_last=5, trigger="d1")
    stack.up()
    stack.config(trigger="d2")
    stack.up()
    assert len(all_snapshot_ids(emulator)) == 3

    stack.run("destroy", "--yes")

    assert all_snapshot_ids(emulator) == {outside}
    assert stack.resources() == []


def test_series_preview_without_credentials_says_it_cannot_know_yet(stack: PulumiStack, emulator: Ec2Emulator) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack.config(mode="series", volume_id=volume_id, keep_last=1, trigger="d1")
    stack.up()
    stack.config(trigger="d2")
    with_credentials = stack.env
    stack.env = {k: v for k, v in with_credentials.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    stack.env.update(
        AWS_EC2_METADATA_DISABLED="true", AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_CONFIG_FILE="/nonexistent"
    )
    emulator.clear_calls()
    try:
        preview = stack.preview()
    finally:
        stack.env = with_credentials

    assert "~ 1 to update" in preview.stdout
    assert "cannot know yet what the next `up` of series will archive and delete" in shown(preview)
    assert "no AWS credentials" in shown(preview)
    assert emulator.calls() == []
