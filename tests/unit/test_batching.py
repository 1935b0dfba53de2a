"""Batched: concurrent requests share calls, none is answered by a call made before it, errors stay per request."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from snapshot_provider.ec2.batching import Batched


class SlowCall:
    """Records each call's items and the moment it started; answers each item with its upper-case form."""

    def __init__(self, seconds: float = 0.2, fail: Callable[[list[str]], bool] = lambda _items: False) -> None:
        self.seconds = seconds
        self.fail = fail
        self.calls: list[tuple[float, list[str]]] = []
        self.lock = threading.Lock()

    def __call__(self, items: list[str]) -> dict[str, str]:
        with self.lock:
            self.calls.append((time.monotonic(), list(items)))
        time.sleep(self.seconds)
        if self.fail(items):
            raise RuntimeError(f"failed: {','.join(items)}")
        return {item: item.upper() for item in items}


def concurrently(batched: Batched[str, str], items: list[str]) -> tuple[dict[str, Any], dict[str, float]]:
    """Each item requested from its own thread; returns each one's result (or exception) and when it was asked."""
    results: dict[str, Any] = {}
    asked: dict[str, float] = {}

    def request(item: str) -> None:
        asked[item] = time.monotonic()
        try:
            results[item] = batched(item)
        except Exception as error:
            results[item] = error

    threads = [threading.Thread(target=request, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
        time.sleep(0.002)
    for thread in threads:
        thread.join(timeout=10)
    return results, asked


def test_lone_request_is_made_at_once_by_itself() -> None:
    call = SlowCall(seconds=0)
    assert Batched(call, max_weight=10)("a") == "A"
    assert [items for _, items in call.calls] == [["a"]]


def test_requests_arriving_during_a_call_share_the_next_one() -> None:
    call = SlowCall()
    items = [f"r{i}" for i in range(20)]
    results, _ = concurrently(Batched(call, max_weight=200), items)
    assert results == {item: item.upper() for item in items}
    assert len(call.calls) == 2  # the first request alone, then everyone who queued behind it
    assert sorted(item for _, batch in call.calls for item in batch) == sorted(items)


def test_no_request_is_answered_by_a_call_that_started_before_it() -> None:
    call = SlowCall(seconds=0.05)
    items = [f"r{i}" for i in range(30)]
    _, asked = concurrently(Batched(call, max_weight=200), items)
    for started, batch in call.calls:
        assert all(asked[item] <= started for item in batch)


def test_batches_respect_the_weight_limit() -> None:
    call = SlowCall(seconds=0.05)
    items = [f"r{i}" for i in range(25)]
    results, _ = concurrently(Batched(call, max_weight=4), items)
    assert results == {item: item.upper() for item in items}
    assert max(len(batch) for _, batch in call.calls) <= 4


def test_an_item_heavier_than_the_limit_goes_alone() -> None:
    call = SlowCall(seconds=0)
    assert Batched(call, max_weight=2, weight=len)("abcdef") == "ABCDEF"


def test_a_failed_shared_call_is_made_again_for_each_request_so_only_the_culprit_fails() -> None:
    call = SlowCall(fail=lambda items: "bad" in items)
    items = ["first", "bad", *[f"r{i}" for i in range(8)]]
    results, _ = concurrently(Batched(call, max_weight=200), items)
    assert isinstance(results.pop("bad"), RuntimeError)
    assert results == {item: item.upper() for item in items if item != "bad"}


def test_a_lone_failure_is_raised_as_is() -> None:
    def fails(items: list[str]) -> dict[str, str]:
        raise ValueError("denied")

    with pytest.raises(ValueError, match="denied"):
        Batched(fails, max_weight=10)("a")


def test_a_call_that_leaves_an_item_out_fails_that_request() -> None:
    with pytest.raises(LookupError, match="'b'"):
        Batched(lambda items: {}, max_weight=10)("b")


def test_requests_arriving_in_a_stream_share_calls() -> None:
    """A thousand creates reach the provider one every few tens of milliseconds, each after the engine wrote state for
    the one before: without lingering, each would find nothing in flight and make a call of its own."""
    call = SlowCall(seconds=0.005)
    batched = Batched(call, max_weight=200)
    results: dict[str, str] = {}
    threads = []
    for i in range(20):
        thread = threading.Thread(target=lambda item=f"i{i}": results.update({item: batched(item)}))
        thread.start()
        threads.append(thread)
        time.sleep(0.03)
    for thread in threads:
        thread.join(timeout=10)
    assert results == {f"i{i}": f"I{i}" for i in range(20)}
    assert len(call.calls) <= 6  # about one call per LINGER (0.2 s) of the 0.6 s stream, not 20


def test_one_threads_requests_one_after_another_never_wait() -> None:
    call = SlowCall(seconds=0)
    batched = Batched(call, max_weight=10)
    started = time.monotonic()
    assert [batched(item) for item in "abcde"] == list("ABCDE")
    assert time.monotonic() - started < 0.1
    assert [items for _, items in call.calls] == [[c] for c in "abcde"]
