"""Program-side defaults: region resolution, creation tokens, the role session name (Pulumi mocks)."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from pulumi_mocks import Recorder, use

from snapshot_provider import EbsSnapshot
from snapshot_provider.program import creation_token, default_region, default_session_name


def test_session_name_identifies_the_stack() -> None:
    use(Recorder())
    assert default_session_name() == "pulumi-proj-dev"


def test_creation_token_is_stable_per_resource_and_differs_between_resources() -> None:
    use(Recorder())
    assert creation_token("a") == creation_token("a")
    assert creation_token("a") != creation_token("b")


def test_region_falls_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    use(Recorder())
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert default_region() == "eu-central-1"


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
        assert inputs["creation_token"] == creation_token("s")

    return snapshot.snapshot_id.apply(check)
