"""Safe decommission: a snapshot set of an instance (crash-consistent, frozen or stopped; locked and copied elsewhere if
asked), then the instance stopped, strictly after."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from snapshot_provider import InstanceSnapshots, InstanceSnapshotsArgs

from .protection import CopyTarget, ProtectionRefused, copy_snapshot, refuse_bad_inputs
from .tagging import SnapshotPolicy, keep_first_dated_tags, tag_source, tags_for


class DecommissionRefused(Exception):
    """The snapshots do not meet the conditions for stopping the instance."""


def decommission_refusal(
    snapshot_ids: Mapping[str, str],
    wait_time: float | None,
    expected_volume_ids: Sequence[str],
    max_wait_seconds: float | None,
) -> str | None:
    """Why the instance must not be stopped, or None. Pure: the conditional logic on the snapshots' outputs."""
    missing = [v for v in expected_volume_ids if v not in snapshot_ids]
    if missing:
        return (
            f"expected volumes have no snapshot: {', '.join(missing)} (snapshotted: "
            f"{', '.join(sorted(snapshot_ids)) or 'none'})"
        )
    if max_wait_seconds is not None and wait_time is not None and wait_time > max_wait_seconds:
        return (
            f"the snapshots took {wait_time:.0f}s, over the budget of {max_wait_seconds:.0f}s: check the volumes "
            "before stopping (raise max_wait_seconds to accept)"
        )
    return None


def _snapshot_of(snapshot_ids: Mapping[str, str] | None, volume_id: str) -> str:
    return (snapshot_ids or {}).get(volume_id, "")


def restore_instructions(snapshots: Sequence[Mapping[str, Any]], availability_zone: str | None) -> list[dict[str, Any]]:
    """How to bring each volume back (pure)."""
    zone = availability_zone or "<availability-zone>"
    return [
        {
            "volume_id": s["volume_id"],
            "device_name": s["device_name"],
            "snapshot_id": s["snapshot_id"],
            "size": s.get("size"),
            "command": f"aws ec2 create-volume --snapshot-id {s['snapshot_id']} --availability-zone {zone}",
        }
        for s in snapshots
    ]


def _left_stopped(args: SafeDecommissionArgs) -> str:
    if args.consistency == "stopped" and args.stop:
        return (
            f" (consistency 'stopped' already stopped it for the snapshots and left it stopped: start it yourself if "
            f"it must keep running: aws ec2 start-instances --instance-ids {args.instance_id})"
        )
    return ""


@dataclass
class SafeDecommissionArgs:
    """`instance_id` to snapshot then stop. The stop is refused when an expected volume is missing from the set or
    the snapshots took longer than `max_wait_seconds`. `consistency` and `on_failure` are handed to the snapshot set
    as they are (`frozen`: its file systems paused around the request; `stopped`: the instance stopped before the
    request and left stopped, never started again; with `stop=False`, started again after the request); the set
    checks them at preview.

    `lock`: InstanceSnapshots' `lock` (e.g. `{"mode": "governance", "duration_days": 90}`), applied to every snapshot
    of the set once completed. `copies`: copy targets, each `region` and/or `role_arn` (a role in another account,
    which the snapshots must be shared with), optionally `kms_key_id` and `completion_duration_minutes`: one
    SnapshotCopy per expected volume and target, so `copies` needs `expected_volume_ids`."""

    instance_id: str
    policy: SnapshotPolicy
    expected_volume_ids: Sequence[str] = ()
    max_wait_seconds: float | None = None
    exclude_boot_volume: bool = False
    availability_zone: str | None = None
    stop: bool = True
    consistency: Literal["crash", "frozen", "stopped"] = "crash"
    on_failure: Literal["fail", "crash_consistent"] = "fail"
    lock: pulumi.Input[Mapping[str, Any]] | None = None
    copies: Sequence[CopyTarget] = ()


def snapshot_set_args(args: SafeDecommissionArgs) -> InstanceSnapshotsArgs:
    """The snapshot set's inputs; the consistency ones only when not the default, so existing stacks see no change."""
    inputs: InstanceSnapshotsArgs = {
        "instance_id": args.instance_id,
        "exclude_boot_volume": args.exclude_boot_volume,
        "copy_tags_from_source": "volume",
        "tags": tags_for(args.policy, args.instance_id),
    }
    if (args.consistency, args.on_failure) != ("crash", "fail"):
        inputs["consistency"] = args.consistency
        inputs["on_failure"] = args.on_failure
    if args.consistency == "stopped" and args.stop:
        # Stopped once, before the snapshots, and never started again: the instance being decommissioned does not
        # boot again (rejoin its load balancer, run its jobs) for the whole snapshot wait.
        inputs["leave_stopped"] = True
    if args.lock is not None:
        inputs["lock"] = args.lock
    return inputs


class SafeDecommission(pulumi.ComponentResource):
    """Snapshot every volume of an instance, then stop it.

    Order, the safety point: the stop waits for the set's checked outputs and depends on the set and on every copy,
    so the instance is stopped only after each snapshot completed and was locked (`lock`: done by InstanceSnapshots'
    create before it returns) and each copy in `copies` completed (SnapshotCopy's create). Bad `lock` or `copies` are
    refused before anything is registered."""

    snapshot_ids: pulumi.Output[dict[str, str]]
    wait_time: pulumi.Output[float]
    restore: pulumi.Output[list[dict[str, Any]]]

    def __init__(self, name: str, args: SafeDecommissionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        refuse_bad_inputs(name, args.lock, args.copies)
        if args.copies and not args.expected_volume_ids:
            raise ProtectionRefused(
                f"{name}: copies needs expected_volume_ids: one copy is made per expected volume and target"
            )
        super().__init__("ebs-snapshots:components:SafeDecommission", name, None, opts)
        self.snapshot_set = snapshot_set = InstanceSnapshots(
            f"{name}-snapshots",
            snapshot_set_args(args),
            opts=pulumi.ResourceOptions.merge(pulumi.ResourceOptions(parent=self), keep_first_dated_tags()),
        )
        self.snapshot_ids = snapshot_set.snapshot_ids
        # Each expected volume carries the id of its latest snapshot.
        for volume_id in args.expected_volume_ids:
            latest = snapshot_set.snapshot_ids.apply(functools.partial(_snapshot_of, volume_id=volume_id))
            tag_source(f"{name}-{volume_id}-tag", volume_id, latest, self)
        self.wait_time = snapshot_set.wait_time
        self.restore = snapshot_set.snapshots.apply(lambda s: restore_instructions(s or [], args.availability_zone))

        def gate(values: list[Any]) -> str:
            refusal = decommission_refusal(values[0] or {}, values[1], args.expected_volume_ids, args.max_wait_seconds)
            if refusal:
                raise DecommissionRefused(f"{name}: not stopping {args.instance_id}: {refusal}{_left_stopped(args)}")
            return args.instance_id

        # The stop waits for the checked snapshot outputs, so it can only happen after every snapshot completed.
        cleared_instance_id = pulumi.Output.all(snapshot_set.snapshot_ids, snapshot_set.wait_time).apply(gate)
        # Each copy's source is a checked snapshot too: no copy is asked for when the stop is refused.
        cleared_ids = pulumi.Output.all(snapshot_set.snapshot_ids, cleared_instance_id).apply(lambda v: v[0] or {})
        copy_opts = pulumi.ResourceOptions.merge(pulumi.ResourceOptions(parent=self), keep_first_dated_tags())
        self.copies = [
            copy_snapshot(
                f"{name}-{volume_id}",
                cleared_ids.apply(functools.partial(_snapshot_of, volume_id=volume_id)),
                target,
                tags_for(args.policy, volume_id),
                copy_opts,
            )
            for volume_id in args.expected_volume_ids
            for target in args.copies
        ]
        self.stop: aws.ec2transitgateway.InstanceState | None = None
        if args.stop:
            self.stop = aws.ec2transitgateway.InstanceState(
                f"{name}-stop",
                instance_id=cleared_instance_id,
                state="stopped",
                opts=pulumi.ResourceOptions(parent=self, depends_on=[snapshot_set, *self.copies]),
            )
        self.register_outputs({"snapshot_ids": self.snapshot_ids, "wait_time": self.wait_time, "restore": self.restore})
