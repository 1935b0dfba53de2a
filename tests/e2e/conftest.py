"""Fixtures of the end-to-end tests: the real Pulumi CLI and stacks of a user's program in a temporary project.

A module sets how the emulator behaves for its stacks by overriding `emulator_settings`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from stack_harness import PulumiStack, StackFactory, pulumi_bin_dir

from emulator import Ec2Emulator
from testbed import REGION


@pytest.fixture(scope="session")
def bin_dir() -> Path:
    return pulumi_bin_dir()


@pytest.fixture
def emulator_settings() -> dict[str, Any]:
    """The emulator's settings for this module's stacks (`Ec2Emulator.configure` names); none: its defaults."""
    return {}


@pytest.fixture
def new_stack(tmp_path: Path, bin_dir: Path, emulator: Ec2Emulator, emulator_settings: dict[str, Any]) -> StackFactory:
    """A stack of the given program text, in a temporary project outside the repository, with the stack's region
    set as a user's would be."""
    if emulator_settings:
        emulator.configure(**emulator_settings)

    def make(program: str) -> PulumiStack:
        stack = PulumiStack(tmp_path, bin_dir, emulator.url, program=program, sts_url=emulator.sts_url)
        stack.config(**{"aws:region": REGION})
        return stack

    return make


@pytest.fixture
def stack(tmp_path: Path, bin_dir: Path, emulator: Ec2Emulator, emulator_settings: dict[str, Any]) -> PulumiStack:
    """A stack of this project's own `__main__.py` (configured by each test), in a temporary project."""
    if emulator_settings:
        emulator.configure(**emulator_settings)
    return PulumiStack(tmp_path, bin_dir, emulator.url, sts_url=emulator.sts_url)
