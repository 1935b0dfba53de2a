"""Pulumi mocks that record every registration and answer for this project's dynamic resources like the providers."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.runtime.mocks import MockMonitor

DYNAMIC = "pulumi-python:dynamic/ebs-snapshots:"


class Recorder(pulumi.runtime.Mocks):
    """Outputs for EbsSnapshot, InstanceSnapshots, SnapshotCopy and VolumeRemoval as their providers would return
    them."""

    def __init__(self, instance_volumes: dict[str, str] | None = None, wait_time: float = 42.0) -> None:
        self.registered: list[pulumi.runtime.MockResourceArgs] = []
        self.instance_volumes = instance_volumes or {"vol-root0000": "/dev/xvda", "vol-data0001": "/dev/sdf"}
        self.wait_time = wait_time

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.registered.append(args)
        outs = dict(args.inputs)
        if args.typ.startswith(DYNAMIC) and "source_snapshot_id" in outs:
            account = (outs.get("role_arn") or "arn:aws:iam::123456789012:").split(":")[4]
            outs.update(
                snapshot_id=f"snap-copy{outs['source_snapshot_id'][5:]}",
                wait_time=self.wait_time,
                state="completed",
                account_id=account,
                region=outs.get("region") or "us-east-1",
            )
            return outs["snapshot_id"], outs
        if args.typ.startswith(DYNAMIC) and "confirm_delete_volume" in outs:
            outs.update(availability_zone="us-east-1a", size=8, volume_type="gp3", volume_tags={"team": "x"})
        elif args.typ.startswith(DYNAMIC) and "instance_id" in outs:
            members = [
                {
                    "volume_id": v,
                    "device_name": d,
                    "snapshot_id": f"snap-{v[4:]}",
                    "size": 8,
                    "encrypted": False,
                    "state": "completed",
                    "start_time": "2026-11-22T10:00:00+00:00",
                }
                for v, d in self.instance_volumes.items()
            ]
            outs.update(
                snapshot_ids={m["volume_id"]: m["snapshot_id"] for m in members},
                snapshots=members,
                wait_time=self.wait_time,
                account_id="123456789012",
                region="us-east-1",
            )
        elif args.typ.startswith(DYNAMIC):
            outs.update(
                snapshot_id=f"snap-{outs['volume_id'][4:]}",
                wait_time=self.wait_time,
                state="completed",
                account_id="123456789012",
                region="us-east-1",
                start_time="2026-11-22T10:00:00+00:00",
            )
            return outs["snapshot_id"], outs  # an EbsSnapshot's id is its snapshot's id, as the provider returns it
        return f"{args.name}-id", outs

    def call(self, args: pulumi.runtime.MockCallArgs) -> Any:
        return {}

    def named(self, name: str) -> pulumi.runtime.MockResourceArgs:
        return next(r for r in self.registered if r.name == name)

    def names(self) -> list[str]:
        return [r.name for r in self.registered]


class OptionsMonitor(MockMonitor):
    """The mocks' monitor, keeping each resource's registration request: the options the engine would get
    (`ignoreChanges`, `deleteBeforeReplace`, `retainOnDelete`, ...), which mocks do not otherwise show."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.requests: dict[str, Any] = {}

    def RegisterResource(self, request: Any) -> Any:
        self.requests[request.name] = request
        return super().RegisterResource(request)


def use(recorder: Recorder, monitor: MockMonitor | None = None) -> Recorder:
    pulumi.runtime.set_mocks(recorder, project="proj", stack="dev", preview=False, monitor=monitor)
    return recorder
