"""Program-side: the shared constructor, defaults from the stack, the resource's URN, options (Pulumi mocks)."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from pulumi_mocks import Recorder, use

from snapshot_provider import EbsSnapshot, EbsSnapshotArgs
from snapshot_provider.inputs.declarations import default_region, default_session_name


def test_session_name_identifies_the_stack_when_a_role_is_assumed() -> None:
    use(Recorder())
    assert default_session_name({"role_arn": "arn:aws:iam::123456789012:role/r"}) == "pulumi-proj-dev"
    assert default_session_name({}) is None


def test_region_falls_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    use(Recorder())
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert default_region({}) == "eu-central-1"


def test_unknown_input_names_the_valid_ones() -> None:
    use(Recorder())
    with pytest.raises(TypeError, match=r"has no input volumeid; its inputs are: .*volume_id"):
        EbsSnapshot("s", volumeid="vol-01234567")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="aws_secret_access_key"):
        EbsSnapshot("s", volume_id="vol-01234567", aws_secret_access_key="x")  # type: ignore[call-overload]


@pulumi.runtime.test
def test_args_class_and_keywords_register_the_same_inputs() -> Any:
    mocks = use(Recorder())
    args_class = EbsSnapshot("a", EbsSnapshotArgs(volume_id="vol-01234567", tags={"k": "v"}, region="eu-west-1"))
    keywords = EbsSnapshot("k", volume_id="vol-01234567", tags={"k": "v"}, region="eu-west-1")

    def check(_: Any) -> None:
        a, k = mocks.named("a").inputs, mocks.named("k").inputs
        assert {n: v for n, v in a.items() if n != "resource_urn"} == {
            n: v for n, v in k.items() if n != "resource_urn"
        }

    # Both outputs: the two registrations run concurrently, so one resolving says nothing of the other.
    return pulumi.Output.all(args_class.snapshot_id, keywords.snapshot_id).apply(check)


@pulumi.runtime.test
def test_resource_urn_names_the_parent_chain_and_type() -> Any:
    mocks = use(Recorder())
    parent = pulumi.ComponentResource("my:pkg:Component", "parent")
    top = EbsSnapshot("s", volume_id="vol-01234567")
    nested = EbsSnapshot("s", volume_id="vol-01234567", opts=pulumi.ResourceOptions(parent=parent))

    def check(_: Any) -> None:
        urns = [r.inputs["resource_urn"] for r in mocks.registered if r.name == "s"]
        assert len(set(urns)) == 2
        assert all(u.endswith("pulumi-python:dynamic/ebs-snapshots:EbsSnapshot::s") for u in urns)
        assert any("my:pkg:Component$" in u for u in urns)

    return pulumi.Output.all(top.snapshot_id, nested.snapshot_id).apply(check)


@pulumi.runtime.test
def test_delete_before_replace_is_overridden_and_the_old_type_aliased() -> Any:
    mocks = use(Recorder())
    snapshot = EbsSnapshot("s", volume_id="vol-01234567", opts=pulumi.ResourceOptions(delete_before_replace=True))

    def check(_: Any) -> None:
        registered = mocks.named("s")
        assert registered.typ == "pulumi-python:dynamic/ebs-snapshots:EbsSnapshot"

    return snapshot.snapshot_id.apply(check)


@pulumi.runtime.test
def test_resource_sends_program_defaults(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    mocks = use(Recorder())
    snapshot = EbsSnapshot(
        "s", volume_id="vol-01234567", role_arn="arn:aws:iam::123456789012:role/r", external_id="ext-1"
    )

    def check(_: Any) -> None:
        inputs = mocks.named("s").inputs
        assert inputs["region"] == "ap-south-1"
        assert inputs["role_session_name"] == "pulumi-proj-dev"
        assert inputs["resource_urn"].endswith("::s")

    return snapshot.snapshot_id.apply(check)


def test_a_resource_holds_few_outputs_in_the_program() -> None:
    """The SDK awaits every output the program holds once per finished registration, so a big stack's program CPU is
    O(resources x outputs per resource): 45 per EbsSnapshot before (every unset input, an Alias and the URN resolved
    through outputs), 26 now (its declared outputs, lock and consistency among them, the inputs given, the URN, the
    provider, id and urn): a new output adds one, an unset input none."""
    use(Recorder())
    from pulumi.runtime.settings import SETTINGS

    before = len(SETTINGS.outputs)
    for i in range(10):
        EbsSnapshot(f"s{i}", volume_id="vol-01234567", tags={"k": "v"})
    per_resource = (len(SETTINGS.outputs) - before) / 10
    assert per_resource <= 28


@pulumi.runtime.test
def test_unset_inputs_are_not_registered_and_outputs_stay_attributes() -> Any:
    mocks = use(Recorder())
    snapshot = EbsSnapshot("s", volume_id="vol-01234567")

    def check(_: Any) -> None:
        registered = mocks.named("s")
        assert "description" not in registered.inputs and "profile" not in registered.inputs
        assert isinstance(registered.inputs["__provider"], str)  # a plain reference to the provider's class
        assert not hasattr(snapshot, "description")  # an unset input that is no output: no attribute to await

    return pulumi.Output.all(snapshot.snapshot_id, snapshot.volume_size, snapshot.tags).apply(check)


@pulumi.runtime.test
def test_a_subclass_calling_super_init_still_registers() -> Any:
    mocks = use(Recorder())

    class Legacy(EbsSnapshot, module="ebs-snapshots", name="Legacy"):
        def __init__(self, name: str, **inputs: Any) -> None:
            super(EbsSnapshot, self).__init__(name, None, None, **inputs)

    legacy = Legacy("legacy", volume_id="vol-01234567")

    def check(_: Any) -> None:
        assert mocks.named("legacy").inputs["volume_id"] == "vol-01234567"

    return legacy.id.apply(check)
