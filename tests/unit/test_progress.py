"""Progress of long waits: when a line is due, what it says, and no flood when many resources wait at once."""

from __future__ import annotations

import pytest

from snapshot_provider.core.progress import DETAILED_UP_TO, Board, Cadence, Reporter, duration, progress_line, time_left


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sink:
    def __init__(self) -> None:
        self.lines: list[tuple[str | None, str, bool]] = []

    def info(self, urn: str | None, message: str, *, ephemeral: bool = False) -> None:
        self.lines.append((urn, message, ephemeral))

    def persistent(self) -> list[str]:
        return [m for _, m, e in self.lines if not e]


@pytest.mark.parametrize(
    "seconds,text", [(0, "0s"), (59.9, "59s"), (60, "1m 00s"), (725, "12m 05s"), (3600, "1h 00m"), (11220, "3h 07m")]
)
def test_duration_reads_like_a_person_writes_it(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_time_left_follows_the_progress_rate() -> None:
    assert time_left(600, 25) == 1800
    assert time_left(600, 0) is None and time_left(600, 100) is None
    assert (
        progress_line("snapshot snap-1 of vol-1", 50, 750)
        == "snapshot snap-1 of vol-1: 50% after 12m 30s, about 12m 30s left"
    )


def test_lines_at_quartiles_and_once_a_minute_never_in_between() -> None:
    cadence = Cadence(started=0.0, interval=60)
    told = [
        t
        for t, p in [(10, 5), (30, 20), (50, 26), (59, 30), (80, 40), (110, 45), (170, 49), (175, 80)]
        if cadence.line_due(t, p)
    ]
    # 26%: the 25% quartile; 110 and 170 s: a minute after the last line; 175 s: 50 and 75% at once (one line).
    assert told == [50, 110, 170, 175]


def test_a_short_wait_says_nothing_persistent() -> None:
    cadence = Cadence(started=0.0)
    assert not any(cadence.line_due(t, p) for t, p in [(1, 0), (2, 0), (3, 10), (4, 20)])


def test_many_waits_share_one_summary_line_a_minute() -> None:
    clock, sink = Clock(), Sink()
    board = Board(clock=clock, interval=60)
    reporters = [
        Reporter(f"urn:{i}", f"snapshot of vol-{i}", started=clock.now, clock=clock, board=board, sink=sink)  # type: ignore[arg-type]
        for i in range(DETAILED_UP_TO * 5)
    ]
    for minute in range(1, 11):  # ten minutes, each reporter woken every 10 s, all stuck at 10%
        for tick in range(6):
            clock.now = 1000.0 + minute * 60 + tick * 10
            for reporter in reporters:
                reporter({"snap": 10})
    lines = sink.persistent()
    summaries = [line for line in lines if line.startswith(f"{len(reporters)} snapshot waits in progress")]
    assert len(summaries) == 10  # one a minute for all 50, not 50 a minute
    assert len(lines) == len(summaries)  # no per-resource minute lines
    for reporter in reporters:
        reporter({"snap": 30})  # a quartile crossed: a status update in each one's row, not a line kept for good
    assert len(sink.persistent()) == len(lines)
    assert len([1 for _, _, ephemeral in sink.lines if ephemeral]) == len(reporters)


def test_a_few_waits_are_told_one_by_one() -> None:
    clock, sink = Clock(), Sink()
    reporter = Reporter("urn:a", "snapshot of vol-a", started=clock.now, clock=clock, board=Board(clock), sink=sink)  # type: ignore[arg-type]
    for second, progress in [(30, 10), (61, 20), (90, 30), (125, 40), (200, 100)]:
        clock.now = 1000.0 + second
        reporter({"snap": progress})
    # 61 s: a minute in; 90 s: 25% crossed; 125 s: too soon after; 200 s: done (50 and 75% crossed).
    assert [m.split(":")[1].strip().split("%")[0] for m in sink.persistent()] == ["20", "30", "100"]
    assert all(urn == "urn:a" for urn, _, _ in sink.lines)


def test_a_set_reports_its_slowest_member() -> None:
    clock, sink = Clock(), Sink()
    reporter = Reporter(
        "urn:s", "snapshot set of i-1", started=clock.now - 100, clock=clock, board=Board(clock), sink=sink
    )  # type: ignore[arg-type]
    reporter({"a": 90, "b": 30, "c": 60})
    assert sink.persistent() == [progress_line("snapshot set of i-1", 30, 100)]
