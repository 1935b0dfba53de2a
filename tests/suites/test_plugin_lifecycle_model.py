"""The lifecycle model (test_lifecycle_model.py) through the provider plugin's front door: the same rules and
invariants, with every in-process engine call (check, diff, create, update, delete, read) going through the plugin's
translation (plugin_as_dynamic.py). Its interrupted creates still run in the dynamic host process (the model kills
that process); fewer examples than the dynamic run, which covers the core itself."""

from __future__ import annotations

import time

import boto3
import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test
from lifecycle_harness import PROVIDERS, ProviderHost, environment_for
from plugin_as_dynamic import PluginAsDynamic
from test_lifecycle_model import FIGURES, PROFILES, LifecycleModel
from test_lifecycle_model import fast_polling as fast_polling  # a fixture

from emulator import Ec2Emulator
from snapshot_provider.plugin.provider import EbsSnapshotsProvider
from testbed import REGION

THROUGH_THE_PLUGIN = settings(PROFILES["ci"], max_examples=4)  # 8 took 49 s of CI


@pytest.fixture
def through_the_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = EbsSnapshotsProvider()
    monkeypatch.setitem(PROVIDERS, "ebs", PluginAsDynamic(plugin, "ebs-snapshots:index:EbsSnapshot"))
    monkeypatch.setitem(PROVIDERS, "set", PluginAsDynamic(plugin, "ebs-snapshots:index:InstanceSnapshots"))


def test_lifecycle_model_through_the_plugin(
    emulator: Ec2Emulator,
    fast_polling: None,
    through_the_plugin: None,
) -> None:
    host = ProviderHost(environment_for(emulator))
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    started = time.monotonic()
    try:
        run_state_machine_as_test(lambda: LifecycleModel(emulator, host, ec2), settings=THROUGH_THE_PLUGIN)
    finally:
        host.close()
        FIGURES.seconds += time.monotonic() - started
