"""The provider as the Pulumi SDK ships it: serialized into state, loaded in another process, and used there."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from pulumi.dynamic.dynamic import serialize_provider

from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider
from testbed import snapshot_props

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: decode exactly as pulumi.dynamic.__main__.get_provider does, then create, read, delete.
CHILD = textwrap.dedent(
    """
    import base64, json, sys
    import dill

    serialized, props = sys.argv[1], json.loads(sys.argv[2])
    provider = dill.loads(base64.b64decode(serialized))
    created = provider.create(props)
    read = provider.read(created.id, created.outs)
    provider.delete(created.id, created.outs)
    after = provider.read(created.id, created.outs)
    print(json.dumps({"type": type(provider).__module__ + "." + type(provider).__qualname__,
                      "id": created.id, "state": created.outs["state"], "read_id": read.id,
                      "after_delete_id": after.id}))
    """
)


def test_serialized_provider_is_tiny_and_references_the_package() -> None:
    serialized = serialize_provider(EbsSnapshotProvider())
    print(f"\nserialized EbsSnapshotProvider: {len(serialized)} bytes (base64)")
    assert len(serialized) < 300
    assert "snapshot_provider.ebs_snapshot" in base64.b64decode(serialized).decode("latin-1")


def test_serialized_provider_creates_reads_and_deletes_from_a_fresh_process(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    emulator.configure(pending_seconds=1.0)
    serialized = serialize_provider(EbsSnapshotProvider())

    result = subprocess.run(
        [sys.executable, "-c", CHILD, serialized, json.dumps(snapshot_props(volume_id))],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["type"] == "snapshot_provider.ebs_snapshot.EbsSnapshotProvider"
    assert report["state"] == "completed" and report["read_id"] == report["id"]
    assert report["after_delete_id"] == ""
    assert [c.action for c in emulator.calls() if c.mutating] == ["CreateSnapshot", "CreateTags", "DeleteSnapshot"]
