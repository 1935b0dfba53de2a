"""The schemas: every bad input is refused with the property and the rule, before any AWS call; defaults, diffs,
program-side props and the documentation's tables all come from the declarations."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

import pytest
from google.protobuf import struct_pb2
from pulumi.runtime import rpc

from bad_inputs import BAD_EBS_INPUTS, BAD_INSTANCE_INPUTS
from snapshot_provider import EbsSnapshotProvider
from snapshot_provider.ebs_snapshot import SCHEMA as EBS_SCHEMA
from snapshot_provider.inputs import rules
from snapshot_provider.inputs.schema import Field, InvalidInputs, Schema
from snapshot_provider.instance_snapshots import SCHEMA as INSTANCE_SCHEMA
from snapshot_provider.volume_removal import VolumeRemovalProvider

VOLUME = "vol-0123456789abcdef0"
INSTANCE = "i-0123456789abcdef0"
GOOD_VOLUME = {"volume_id": VOLUME, "region": "us-east-1"}
GOOD_INSTANCE = {"instance_id": INSTANCE, "region": "us-east-1"}


@pytest.mark.parametrize("case,overrides,prop,words", BAD_EBS_INPUTS, ids=[c[0] for c in BAD_EBS_INPUTS])
def test_check_refuses_bad_ebs_input_naming_property_and_rule(
    case: str, overrides: dict[str, Any], prop: str, words: str
) -> None:
    props = {**GOOD_VOLUME, **overrides}
    failures = EBS_SCHEMA.failures(props)
    assert failures, f"{case}: accepted"
    matching = [f for f in failures if f.property == prop]
    assert matching, f"{case}: no failure for {prop}: {failures}"
    assert any(words in f.reason for f in matching), f"{case}: {matching}"


@pytest.mark.parametrize("case,overrides,prop,words", BAD_INSTANCE_INPUTS, ids=[c[0] for c in BAD_INSTANCE_INPUTS])
def test_check_refuses_bad_instance_input(case: str, overrides: dict[str, Any], prop: str, words: str) -> None:
    failures = INSTANCE_SCHEMA.failures({**GOOD_INSTANCE, **overrides})
    assert any(f.property == prop and words in f.reason for f in failures), f"{case}: {failures}"


def test_valid_inputs_pass() -> None:
    props = {
        **GOOD_VOLUME,
        "description": "before decommission",
        "tags": {f"k{i}": "v" for i in range(48)},
        "copy_volume_tags": True,
        "outpost_arn": "arn:aws:outposts:us-east-1:123456789012:outpost/op-0123456789abcdef0",
        "storage_tier": "archive",
        "timeout": 86400,
        "profile": "prod",
        "role_arn": "arn:aws:iam::123456789012:role/snapshots",
        "external_id": "ext-123",
        "role_session_name": "pulumi-proj-dev",
        "allowed_account_ids": ["123456789012"],
        "endpoint_url": "https://ec2.us-east-1.amazonaws.com",
    }
    assert EBS_SCHEMA.failures(props) == []
    assert EBS_SCHEMA.failures({**GOOD_VOLUME, "volume_id": "vol-01234567"}) == []
    assert EBS_SCHEMA.failures({**GOOD_VOLUME, "region": "us-gov-west-1"}) == []


def as_the_sdk_host_delivers(props: dict[str, Any]) -> dict[str, Any]:
    """Props as `check` and `diff` receive them: the dynamic-provider host deserializes with keep_unknowns=True."""
    wire = struct_pb2.Struct()
    wire.update(props)
    return dict(rpc.deserialize_properties(wire, True))


@pytest.mark.parametrize("form", ["protocol constant", "as the SDK host delivers"])
def test_unknown_values_during_preview_are_accepted(form: str) -> None:
    unknown = rpc.UNKNOWN
    props = {"volume_id": unknown, "region": "us-east-1", "tags": {"k": unknown}, "description": unknown}
    if form == "as the SDK host delivers":
        props = as_the_sdk_host_delivers(props)
        assert not isinstance(props["volume_id"], str)  # what broke VolumeRemoval's preview once
    assert EBS_SCHEMA.failures(props) == []
    assert rules.tags(props["tags"]) == []


def test_an_unknown_snapshot_id_passes_volume_removal_check_at_preview() -> None:
    # The cleanup component feeds a snapshot that does not exist yet into VolumeRemoval.
    props = as_the_sdk_host_delivers(
        {
            "volume_id": "vol-01234567",
            "snapshot_id": rpc.UNKNOWN,
            "confirm_delete_volume": "vol-01234567",
            "region": "us-east-1",
        }
    )
    assert VolumeRemovalProvider().check({}, props).failures == []


def test_parse_refuses_what_check_refuses() -> None:
    with pytest.raises(InvalidInputs, match="volume_id"):
        EBS_SCHEMA.parse({"volume_id": "nope", "region": "us-east-1"})


def test_parse_fills_defaults() -> None:
    inputs = EBS_SCHEMA.parse(GOOD_VOLUME)
    assert (inputs["storage_tier"], inputs["timeout"], inputs["tags"]) == ("standard", 24 * 3600, {})
    assert inputs["copy_volume_tags"] is False and "allowed_account_ids" not in inputs


def test_a_refused_external_id_is_not_echoed_in_the_preview_error() -> None:
    """external_id is declared secret (state stores it encrypted); `pulumi preview` prints check failures in CI logs
    and pull-request comments."""
    secret = "corp-vendor-7f3a#9b2c"  # one character EC2's rule refuses: a typo in a secret pasted from a vault
    result = EbsSnapshotProvider().check(
        {}, {**GOOD_VOLUME, "role_arn": "arn:aws:iam::123456789012:role/snapshots", "external_id": secret}
    )
    [failure] = result.failures
    assert failure.property == "external_id"
    assert "corp-vendor" not in failure.reason and "not a valid external id" in failure.reason, failure.reason


def test_a_secret_inputs_value_is_concealed_even_when_its_rule_echoes_it() -> None:
    schema = Schema({"token": Field("a secret", rule=rules.role_arn, secret=True)})
    [failure] = schema.failures({"token": "hunter2-not-an-arn"})
    assert "hunter2" not in failure.reason and "not an IAM role ARN" in failure.reason, failure.reason


def test_archive_back_to_standard_is_refused_at_check() -> None:
    [failure] = EBS_SCHEMA.failures({**GOOD_VOLUME, "storage_tier": "standard"}, {"storage_tier": "archive"})
    assert failure.property == "storage_tier" and "RestoreSnapshotTier" in failure.reason


def test_every_field_says_what_a_change_means() -> None:
    for schema in (EBS_SCHEMA, INSTANCE_SCHEMA):
        for name, field in schema.fields.items():
            assert field.on_change in ("replace", "update", "state", "none"), name
            assert field.doc, name


def test_diff_ignores_fields_not_in_the_schema() -> None:
    # Keys an older version stored (e.g. its creation_token) or the SDK adds (__provider) are not inputs today.
    old = {**GOOD_VOLUME, "creation_token": "abc", "__provider": "x"}
    assert EBS_SCHEMA.diff(old, {**GOOD_VOLUME, "__provider": "y"}).changes is False


# --- list inputs are sets; triggers compare by value and type -------------------------------------------------------
LIST_ORDER_CASES = [
    ("allowed accounts reordered", EBS_SCHEMA, GOOD_VOLUME, "allowed_account_ids", ["111111111111", "222222222222"]),
    ("exclusions reordered", INSTANCE_SCHEMA, GOOD_INSTANCE, "exclude_data_volume_ids", ["vol-01234567", VOLUME]),
]


@pytest.mark.parametrize("case,schema,base,name,values", LIST_ORDER_CASES, ids=[c[0] for c in LIST_ORDER_CASES])
def test_a_list_input_in_another_order_is_no_change(
    case: str, schema: Any, base: dict[str, Any], name: str, values: list[str]
) -> None:
    result = schema.diff({**base, name: values}, {**base, name: list(reversed(values))})
    assert (result.changes, result.replaces) == (False, []), case


def test_an_ordered_list_input_in_another_order_is_a_change() -> None:
    class Args(TypedDict, total=False):
        steps: Annotated[list[str], Field("run in turn", ordered=True)]
        ids: Annotated[list[str], Field("a set of ids")]

    schema = Schema.of(Args)
    assert schema.changes({"steps": ["a", "b"]}, {"steps": ["b", "a"]}) == ([], ["steps"])
    assert schema.changes({"ids": ["a", "b"]}, {"ids": ["b", "a"]}) == ([], [])


def test_a_list_input_with_another_member_still_changes() -> None:
    old = {**GOOD_INSTANCE, "exclude_data_volume_ids": ["vol-01234567"]}
    result = INSTANCE_SCHEMA.diff(old, {**GOOD_INSTANCE, "exclude_data_volume_ids": ["vol-89abcdef"]})
    assert result.replaces == ["exclude_data_volume_ids"]


@pytest.mark.parametrize("schema,base", [(EBS_SCHEMA, GOOD_VOLUME), (INSTANCE_SCHEMA, GOOD_INSTANCE)])
@pytest.mark.parametrize("old,new", [("", None), (None, ""), ("", "absent")])
def test_an_empty_description_and_none_are_no_change(schema: Any, base: dict[str, Any], old: Any, new: Any) -> None:
    """EC2 stores both as an empty description: replacing would delete the snapshot's point in time for nothing."""
    news = {k: v for k, v in base.items() if k != "description"} | ({} if new == "absent" else {"description": new})
    result = schema.diff({**base, "description": old}, news)
    assert (result.changes, result.replaces) == (False, [])


def test_a_description_set_where_there_was_none_still_replaces() -> None:
    result = EBS_SCHEMA.diff({**GOOD_VOLUME, "description": ""}, {**GOOD_VOLUME, "description": "nightly"})
    assert result.replaces == ["description"]


def test_a_trigger_that_changes_type_replaces() -> None:
    # True == 1 in Python, but a user who changes a trigger from 1 to true changed it.
    result = EBS_SCHEMA.diff({**GOOD_VOLUME, "triggers": {"v": 1}}, {**GOOD_VOLUME, "triggers": {"v": True}})
    assert result.replaces == ["triggers"]


def test_a_number_from_state_is_the_same_trigger() -> None:
    result = EBS_SCHEMA.diff({**GOOD_VOLUME, "triggers": {"v": 2.0}}, {**GOOD_VOLUME, "triggers": {"v": 2}})
    assert result.changes is False


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_a_trigger_that_is_not_a_finite_number_is_refused(value: float) -> None:
    # NaN never equals itself: every preview would replace; infinities cannot be stored in state (JSON).
    [failure] = EBS_SCHEMA.failures({**GOOD_VOLUME, "triggers": {"v": value}})
    assert failure.property == "triggers" and "finite" in failure.reason
    assert rules.trigger(value) is not None and "finite" in str(rules.trigger(value))
