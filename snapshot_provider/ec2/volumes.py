"""Volume operations that must not be repeated blindly (DeleteVolume, and the helper CreateVolume uses), and
looking a volume up."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from snapshot_provider.ec2 import clients, snapshots
from snapshot_provider.ec2.errors import (
    SnapshotProviderError,
    aws_errors,
    error_code,
    explain,
    is_throttling,
)
from snapshot_provider.inputs.declarations import AccountSelection

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import VolumeTypeDef

T = TypeVar("T")
VOLUME_NOT_FOUND = "InvalidVolume.NotFound"
ONCE_ATTEMPTS = 20  # as many as botocore's retries (clients.RETRY_CONFIG)
# A deleted volume is listed as `deleting` for a while, then as `deleted` or not at all.
GONE = ("deleting", "deleted")


def look_up(ec2: EC2Client, volume_id: str) -> VolumeTypeDef | None:
    """The volume, or None when EC2 does not know it (any more)."""
    with aws_errors("reading the volume (ec2:DescribeVolumes)", volume_id=volume_id):
        try:
            volumes = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
        except Exception as error:
            if error_code(error) == VOLUME_NOT_FOUND:
                return None
            raise
    return volumes[0] if volumes else None


def delete_once(account: AccountSelection, volume_id: str) -> None:
    """DeleteVolume, once: after an ambiguous failure (5xx, dropped connection) the volume is looked up, and a volume
    gone or `deleting` means the delete went through (it was `available` just before)."""
    once = clients.client(account, single_attempt=True)
    ec2 = clients.client(account)

    def delete() -> bool:
        try:
            once.delete_volume(VolumeId=volume_id)
        except Exception as error:
            if error_code(error) != VOLUME_NOT_FOUND:  # gone already: deleted by another hand meanwhile
                raise
        return True

    def gone() -> bool | None:
        volume = look_up(ec2, volume_id)
        return True if volume is None or volume["State"] in GONE else None

    call_once(delete, gone, "deleting the volume (ec2:DeleteVolume)", volume_id=volume_id)


def call_once(call: Callable[[], T], find_done: Callable[[], T | None], doing: str, **context: Any) -> T:
    """A call that must not be repeated blindly (CreateVolume, DeleteVolume), made with a client without retries, as
    the lifecycle makes CreateSnapshot(s): throttled requests, and ones never sent, go again; after an ambiguous
    failure (`snapshots.is_ambiguous`: a 5xx, a dropped connection) the call may have been carried out, so
    `find_done` looks first, and its result is the call's. Any other failure is the answer."""
    for attempt in range(1, ONCE_ATTEMPTS + 1):
        try:
            return call()
        except (ClientError, BotoCoreError) as error:
            ambiguous = snapshots.is_ambiguous(error)
            again = ambiguous or is_throttling(error) or snapshots.never_sent(error)
            if not again or attempt == ONCE_ATTEMPTS:
                raise SnapshotProviderError(explain(error, doing, **context)) from error
            done = find_done() if ambiguous else None
            if done is not None:
                return done
            time.sleep(min(10.0, 0.25 * 2**attempt) * random.uniform(0.5, 1.0))
    raise AssertionError("unreachable")
