"""The consistency inputs (`inputs.consistency`): each bad value or combination is refused at check, naming the input
and the fix, before anything happens; good ones pass and say at check what will happen to the instance."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from snapshot_provider import (
    EbsSnapshot,
    EbsSnapshotProvider,
    InstanceSnapshots,
    InstanceSnapshotsProvider,
    SnapshotSeries,
)
from snapshot_provider.inputs.consistency import Plan

GOOD = {"volume_id": "vol-0123456789abcdef0", "region": "us-east-1"}

BAD: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown consistency", {"consistency": "quiesced"}, "consistency", "not one of: crash, frozen, stopped"),
    ("unknown on_failure", {"on_failure": "ignore"}, "on_failure", "not one of: fail, crash_consistent"),
    ("commands not a list", {"consistency": "frozen", "pre_commands": "sync"}, "pre_commands", "list of command"),
    ("commands without frozen", {"post_commands": ["sync"]}, "post_commands", "only used with consistency 'frozen'"),
    (
        "document and commands",
        {"consistency": "frozen", "ssm_document": "MyDoc", "pre_commands": ["sync"]},
        "ssm_document",
        "one or the other",
    ),
    ("document with spaces", {"consistency": "frozen", "ssm_document": "my doc"}, "ssm_document", "not an SSM"),
    ("pause too short", {"consistency": "frozen", "max_pause_seconds": 1}, "max_pause_seconds", "from 5 to 900"),
    ("pause not whole", {"consistency": "frozen", "max_pause_seconds": 7.5}, "max_pause_seconds", "whole seconds"),
    (
        "one tag too many for the consistency tag",
        {"consistency": "frozen", "tags": {f"k{i}": "v" for i in range(48)}},
        "tags",
        "at most 47",
    ),
]


@pytest.mark.parametrize("case,overrides,prop,words", BAD, ids=[c[0] for c in BAD])
def test_check_refuses_bad_consistency_input(case: str, overrides: dict[str, Any], prop: str, words: str) -> None:
    failures = EbsSnapshotProvider().check({}, {**GOOD, **overrides}).failures
    matching = [f for f in failures if f.property == prop]
    assert any(words in f.reason for f in matching), f"{case}: {failures}"


@pytest.mark.parametrize(
    "good",
    [
        {},
        {"consistency": "frozen"},
        {"consistency": "frozen", "on_failure": "crash_consistent", "max_pause_seconds": 30.0},
        {"consistency": "frozen", "pre_commands": ["sync"], "post_commands": ["true"]},
        {"consistency": "frozen", "ssm_document": "arn:aws:ssm:us-east-1:123456789012:document/Flush"},
        {"consistency": "stopped", "tags": {f"k{i}": "v" for i in range(47)}},
    ],
)
def test_check_accepts_good_consistency_input(good: dict[str, Any]) -> None:
    assert EbsSnapshotProvider().check({}, {**GOOD, **good}).failures == []


def test_the_default_is_crash_and_fail() -> None:
    inputs = EbsSnapshotProvider().check({}, dict(GOOD)).inputs
    assert (inputs["consistency"], inputs["on_failure"], inputs["max_pause_seconds"]) == ("crash", "fail", 60)


def test_leave_stopped_is_only_used_with_stopped() -> None:
    inputs = {"instance_id": "i-0123456789abcdef0", "region": "us-east-1", "leave_stopped": True}
    frozen = InstanceSnapshotsProvider().check({}, {**inputs, "consistency": "frozen"}).failures
    assert [f.property for f in frozen if "only used with consistency 'stopped'" in f.reason] == ["leave_stopped"]
    assert InstanceSnapshotsProvider().check({}, {**inputs, "consistency": "stopped"}).failures == []


def test_the_preview_of_leave_stopped_says_the_instance_is_not_started_again() -> None:
    line = str(Plan(consistency="stopped", leave_stopped=True).preview("instance i-0123456789abcdef0"))
    assert "will STOP instance i-0123456789abcdef0" in line and "leave it stopped" in line
    assert "start it again" not in line


@pytest.mark.parametrize("name", ["pre_commands", "post_commands"])
@pytest.mark.parametrize("resource", [EbsSnapshot, InstanceSnapshots, SnapshotSeries])
def test_the_commands_are_registered_as_secrets(resource: Any, name: str) -> None:
    # A database's flush and lock may name its password: state keeps them secret on both routes (the plugin's
    # schema says `secret`, the dynamic program wraps them in Output.secret).
    assert resource.schema.fields[name].secret
    registered = resource.schema.program_props({"consistency": "frozen", name: ["mysql -psecret -e 'FLUSH'"]})
    assert isinstance(registered[name], pulumi.Output)


def test_a_bad_command_list_is_refused_without_echoing_the_commands() -> None:
    inputs = {**GOOD, "consistency": "frozen", "pre_commands": ["mysql -pHUNTER2 -e 'FLUSH TABLES'", 7]}
    [failure] = EbsSnapshotProvider().check({}, inputs).failures
    assert failure.property == "pre_commands" and "HUNTER2" not in failure.reason, failure.reason


@pytest.mark.parametrize("name", ["pre_commands", "post_commands"])
@pytest.mark.parametrize("resource", [EbsSnapshot, InstanceSnapshots, SnapshotSeries])
def test_commands_in_another_order_are_other_commands(resource: Any, name: str) -> None:
    # Commands run in turn: a lock then a flush is not a flush then a lock (unlike a list of ids, a set).
    commands = ["mysql -e 'FLUSH TABLES WITH READ LOCK'", "sync"]
    assert not resource.schema.same(name, commands, list(reversed(commands)))
    assert resource.schema.same(name, commands, tuple(commands))
