"""Red team 2: reproducers of problems found in the branch's fixes, each xfail(strict) until fixed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from series_helpers import age, all_snapshot_ids
from test_series import Series

from emulator import Ec2Emulator
from snapshot_provider.series import RECYCLE_BIN_MAX_DAYS


def _a_year_later(outs: dict, sid: str) -> dict:
    """The series' state as it is a year and a day after it pruned `sid` (runs in between only carry the record)."""
    long_ago = (datetime.now(UTC).date() - timedelta(days=RECYCLE_BIN_MAX_DAYS + 1)).isoformat()
    return {**outs, "deleted": [], "pruned": {**(outs.get("pruned") or {}), sid: long_ago}}


@pytest.mark.xfail(
    strict=True,
    reason="RT2-1: a snapshot recovered from the Recycle Bin is forgotten a year after the prune and pruned again",
)
def test_a_snapshot_recovered_from_the_recycle_bin_stays_the_users_after_a_year(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    emulator.configure(pending_seconds=0.5)
    series = Series(volume_id=volume_id, trigger="day-1", keep_last=1)
    [first] = series.kept()
    age(emulator, [first], days=1)
    in_recycle_bin = [s for s in emulator.export_world()["snapshots"] if s["id"] == first]
    series.up(trigger="day-2")
    assert first in series.outs["deleted"]
    emulator.seed_world({"snapshots": in_recycle_bin})  # recovered by the user, who needs it
    series.up(trigger="day-3")
    assert first in all_snapshot_ids(emulator)

    series.outs = _a_year_later(series.outs, first)  # nightly runs for a year leave it alone
    series.up(trigger="day-367")

    assert first in all_snapshot_ids(emulator), f"{first}, recovered by its user, was deleted by the series"
