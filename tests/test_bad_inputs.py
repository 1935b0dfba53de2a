"""Bad input across both resources, the volume removal and the components: refused at preview or at the first AWS
call, with the field and the fix named, and nothing changed in the emulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from test_schema import BAD_EBS_INPUTS, BAD_INSTANCE_INPUTS

from conftest import BAD_INPUT_FIGURES, REGION
from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider, InstanceSnapshotsProvider, VolumeRemovalProvider
from snapshot_provider.components.tagging import SnapshotPolicy
from snapshot_provider.ec2.errors import SnapshotProviderError
from snapshot_provider.inputs.schema import InvalidInputs

pytestmark = pytest.mark.reliability

# Each case builds its inputs from the emulator's seeded world: (provider, props, field named, words of the fix).
Case = Callable[[dict[str, Any]], tuple[Any, dict[str, Any], str, str]]


def ebs(**props: Any) -> dict[str, Any]:
    return {"region": REGION, "tags": {}, "timeout": 30, "storage_tier": "standard", **props}


AWS_STAGE_CASES: dict[str, Case] = {
    "volume that does not exist": lambda w: (
        EbsSnapshotProvider(),
        ebs(volume_id="vol-0123456789abcdef0"),
        "volume_id",
        "Check volume_id",
    ),
    "volume in another region": lambda w: (
        EbsSnapshotProvider(),
        ebs(volume_id=w["volume"], region="eu-west-1"),
        "volume_id",
        "region=eu-west-1",
    ),
    "volume in another account (allowed_account_ids)": lambda w: (
        EbsSnapshotProvider(),
        ebs(volume_id=w["volume"], allowed_account_ids=["210987654321"]),
        "allowed_account_ids",
        "add the account to allowed_account_ids",
    ),
    "import of a snapshot that does not exist": lambda w: (
        EbsSnapshotProvider(),
        ebs(volume_id=w["volume"], import_snapshot_id="snap-0123456789abcdef0"),
        "import_snapshot_id",
        "check the id",
    ),
    "import of a snapshot of another volume": lambda w: (
        EbsSnapshotProvider(),
        ebs(volume_id=w["volume"], import_snapshot_id=w["snapshot_of_root"]),
        "import_snapshot_id",
        f"set volume_id to {w['root']}",
    ),
    "instance that does not exist": lambda w: (
        InstanceSnapshotsProvider(),
        ebs(instance_id="i-0123456789abcdef0"),
        "instance_id",
        "Check instance_id",
    ),
    "unattached exclusion": lambda w: (
        InstanceSnapshotsProvider(),
        ebs(instance_id=w["instance"], exclude_data_volume_ids=[w["volume"]]),
        "exclude_data_volume_ids",
        "remove it from the list",
    ),
    "root volume as data exclusion": lambda w: (
        InstanceSnapshotsProvider(),
        ebs(instance_id=w["instance"], exclude_data_volume_ids=[w["root"]]),
        "exclude_data_volume_ids",
        "use exclude_boot_volume=True",
    ),
    "every volume excluded": lambda w: (
        InstanceSnapshotsProvider(),
        ebs(instance_id=w["instance"], exclude_boot_volume=True, exclude_data_volume_ids=w["data"]),
        "exclude_boot_volume",
        "keep at least one",
    ),
    "deleting an attached volume": lambda w: (
        VolumeRemovalProvider(),
        {
            "volume_id": w["data"][0],
            "snapshot_id": "snap-0123456789abcdef0",
            "confirm_delete_volume": w["data"][0],
            "region": REGION,
        },
        "volume",
        "only unattached (available) volumes",
    ),
    "deletion without confirmation": lambda w: (
        VolumeRemovalProvider(),
        {
            "volume_id": w["volume"],
            "snapshot_id": "snap-0123456789abcdef0",
            "confirm_delete_volume": "yes",
            "region": REGION,
        },
        "confirm_delete_volume",
        "must be exactly the volume id",
    ),
}

POLICY_CASES = [
    ({"name_template": "{stack}-{owner}"}, "name_template", "allowed fields"),
    ({"retention_days": -1}, "retention_days", "at least 1"),
    ({"reason": ""}, "reason", "must not be empty"),
]


@pytest.fixture
def world(emulator: Ec2Emulator) -> dict[str, Any]:
    instance = emulator.seed_instance(data_volumes=2)
    [volume] = emulator.seed_volumes(1)
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    snapshot_of_root = ec2.create_snapshot(VolumeId=instance["root_volume_id"])["SnapshotId"]
    emulator.clear_calls()
    return {
        "instance": instance["instance_id"],
        "root": instance["root_volume_id"],
        "volume": volume,
        "data": [d["volume_id"] for d in instance["data_volumes"]],
        "snapshot_of_root": snapshot_of_root,
    }


def refuse(provider: Any, props: dict[str, Any]) -> tuple[str, str]:
    """Where the input was refused (preview or first AWS call) and the message."""
    failures = provider.check({}, props).failures
    if failures:
        return "preview", "; ".join(f"{f.property}: {f.reason}" for f in failures)
    try:
        provider.create(props)
    except (SnapshotProviderError, InvalidInputs) as error:
        return "first AWS call", str(error)
    raise AssertionError("accepted")


def changes_made(emulator: Ec2Emulator) -> list[str]:
    """What the emulator carried out that changed something (its call log), for the figures and the assertion."""
    return [c.action for c in emulator.calls() if c.mutating]


def record(case: str, stage: str, emulator: Ec2Emulator, snapshots_before: int = 0) -> None:
    changes = changes_made(emulator)
    BAD_INPUT_FIGURES.append({"case": case, "stage": stage, "changes": len(changes)})
    assert changes == [], f"{case}: a refused input changed something: {changes}"
    assert len(emulator.snapshots()) == snapshots_before


@pytest.mark.parametrize("case", [c[0] for c in BAD_EBS_INPUTS])
def test_bad_ebs_snapshot_input(emulator: Ec2Emulator, volume_id: str, case: str) -> None:
    _, overrides, prop, words = next(c for c in BAD_EBS_INPUTS if c[0] == case)
    stage, message = refuse(EbsSnapshotProvider(), {**ebs(volume_id=volume_id), **overrides})
    record(case, stage, emulator)
    assert stage == "preview" and prop in message and words in message


@pytest.mark.parametrize("case", [c[0] for c in BAD_INSTANCE_INPUTS])
def test_bad_instance_snapshots_input(emulator: Ec2Emulator, case: str) -> None:
    _, overrides, prop, words = next(c for c in BAD_INSTANCE_INPUTS if c[0] == case)
    stage, message = refuse(InstanceSnapshotsProvider(), {**ebs(instance_id="i-0123456789abcdef0"), **overrides})
    record(case, stage, emulator)
    assert stage == "preview" and prop in message and words in message


@pytest.mark.parametrize("case", list(AWS_STAGE_CASES))
def test_bad_input_found_by_aws(emulator: Ec2Emulator, world: dict[str, Any], case: str) -> None:
    provider, props, field, fix = AWS_STAGE_CASES[case](world)
    stage, message = refuse(provider, props)
    record(case, stage, emulator, snapshots_before=1)  # the world's one snapshot, of the root volume
    assert field in message and fix in message, message


@pytest.mark.parametrize("overrides,field,words", POLICY_CASES, ids=[c[1] for c in POLICY_CASES])
def test_bad_component_policy(emulator: Ec2Emulator, overrides: dict[str, Any], field: str, words: str) -> None:
    # Refused by the program itself, before any resource is registered (so before the provider sees anything).
    with pytest.raises(ValueError) as refused:
        SnapshotPolicy(**{"owner": "finops", "reason": "cleanup", **overrides})
    record(field, "the program", emulator)
    assert field in str(refused.value) and words in str(refused.value)
