"""Concurrent requests for one kind of AWS call, made as one call.

A `pulumi up` of many resources runs their creates at once in one provider process, and every create makes the same
few calls: the leftover lookup (DescribeSnapshots by this resource's tag) first, the `recorded` mark (CreateTags) last.
One call each per resource was most of the provider's work in a big stack (64 resources: 128 calls where 2 do), and
against AWS it spends the account's API rate for nothing. `Batched` makes them together, group-commit style: while one
call of a kind is in flight, the requests that arrive queue up, and the next call carries all of them. A request that
finds nothing in flight is made at once, so a lone create waits no longer than before, and no request is answered by
a call that started before it was made (a lookup sees everything a call of its own would have seen).

When a call carrying several requests fails, each of them is made again alone, so that an error (a snapshot deleted
meanwhile, say) belongs to the request that caused it and fails only that resource.

Requests that arrive in a stream rather than at once (a thousand creates, each sent by the engine once it has written
state for the one before: one every few tens of milliseconds) would each find nothing in flight and go alone: a call
per resource again. So a request that comes within `LINGER` seconds of one from another thread waits up to `LINGER`
for others to join its call. A lone create, or one thread's requests one after the other, never wait.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)
R = TypeVar("R")

LINGER = 0.2  # seconds

_threads = threading.local()
_serials = itertools.count(1)


def _thread_serial() -> int:
    """A number for the calling thread, never reused (thread idents are, once a thread has ended)."""
    if not hasattr(_threads, "serial"):
        _threads.serial = next(_serials)
    return int(_threads.serial)


@dataclass
class _Request(Generic[T, R]):
    item: T
    done: bool = False
    result: R | None = None
    error: BaseException | None = None
    alone: bool = False  # its call carried others and failed: make it by itself


class Batched(Generic[T, R]):
    """`call(items)` for requests made concurrently, at most one call in flight, each carrying up to `max_weight`
    (the sum of `weight(item)`; a heavier item goes alone). `call` returns each item's result."""

    def __init__(
        self,
        call: Callable[[list[T]], Mapping[T, R]],
        max_weight: int,
        weight: Callable[[T], int] = lambda _item: 1,
        linger: float = LINGER,
    ) -> None:
        self._call = call
        self._max_weight = max_weight
        self._weight = weight
        self._linger = linger
        self._cond = threading.Condition()
        self._queue: list[_Request[T, R]] = []
        self._busy = False
        self._last_arrival = (-linger, 0)  # (time.monotonic(), thread id) of the latest request

    def __call__(self, item: T) -> R:
        mine: _Request[T, R] = _Request(item)
        with self._cond:
            self._queue.append(mine)
            now, thread = time.monotonic(), _thread_serial()
            last_at, last_thread = self._last_arrival
            streaming = now - last_at < self._linger and last_thread != thread
            self._last_arrival = (now, thread)
            while not mine.done:
                if self._busy:
                    self._cond.wait()
                elif streaming:
                    self._gather()
                    streaming = False
                else:
                    self._make(self._next_batch())
        if mine.alone:
            return self._call([item])[item]
        if mine.error is not None:
            raise mine.error
        return mine.result  # type: ignore[return-value]  # set whenever done without error

    def _gather(self) -> None:
        """Hold the next call for up to `linger` seconds (with the lock released), so that the requests arriving
        meanwhile share it. Ends early once a call's worth has queued."""
        self._busy = True
        deadline = time.monotonic() + self._linger
        while (left := deadline - time.monotonic()) > 0 and sum(map(self._weight, (r.item for r in self._queue))) < (
            self._max_weight
        ):
            self._cond.wait(timeout=min(left, 0.05))
        self._busy = False

    def _next_batch(self) -> list[_Request[T, R]]:
        """The oldest queued requests, up to the weight limit (at least one)."""
        batch: list[_Request[T, R]] = []
        total = 0
        for request in self._queue:
            total += self._weight(request.item)
            if batch and total > self._max_weight:
                break
            batch.append(request)
        del self._queue[: len(batch)]
        return batch

    def _make(self, batch: list[_Request[T, R]]) -> None:
        """One call for `batch`, made with the lock released; called and returning with it held."""
        self._busy = True
        self._cond.release()
        results: Mapping[T, R] = {}
        error: BaseException | None = None
        try:
            results = self._call(list(dict.fromkeys(r.item for r in batch)))
        except BaseException as e:  # recorded for its requests; nothing may leave them waiting
            error = e
        finally:
            self._cond.acquire()
        for request in batch:
            if error is None and request.item not in results:
                request.error = LookupError(f"a batched call returned no result for {request.item!r}")
            elif error is None:
                request.result = results[request.item]
            elif len(batch) == 1:
                request.error = error
            else:
                request.alone = True
            request.done = True
        self._busy = False
        self._cond.notify_all()
