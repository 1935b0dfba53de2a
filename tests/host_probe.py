"""A dynamic provider for tests/test_host.py, run inside a real `python -m pulumi.dynamic` host.

Each `create` waits at a barrier shared by every create in the host process, so it passes only if the host runs
`PARTIES` creates at once. Importing this module in the host (when the host first unpickles a `ProbeProvider`, inside
the first RPC) calls `adapt_dynamic_provider_host()`, as importing `snapshot_provider` does in production.

Set in the host's environment:
- `HOST_PROBE_BARRIER_TIMEOUT`: seconds a create waits at the barrier (default 60).
- `HOST_PROBE_WIDEN_AFTER_QUEUED=N`: before widening, wait until N requests are queued in the host's thread pool, so
  the widening certainly finds requests queued behind the busy workers.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from grpc import _server as grpc_server
from pulumi.dynamic import CreateResult, ResourceProvider

PARTIES = 12
BARRIER_TIMEOUT = float(os.environ.get("HOST_PROBE_BARRIER_TIMEOUT", "60"))

_barrier = threading.Barrier(PARTIES, timeout=BARRIER_TIMEOUT)
_lock = threading.Lock()
_running = 0
_peak = 0


def _wait_until_queued(pool: ThreadPoolExecutor, count: int) -> None:
    """Block until `count` work items wait in `pool`'s queue, woken by each `submit` (no polling)."""
    submitted = threading.Condition()
    original_submit = pool.submit

    def submit(fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        future = original_submit(fn, *args, **kwargs)
        with submitted:
            submitted.notify_all()
        return future

    pool.submit = submit  # type: ignore[method-assign]  # grpc's serving thread calls pool.submit per request
    with submitted:
        if not submitted.wait_for(lambda: pool._work_queue.qsize() >= count, timeout=BARRIER_TIMEOUT):
            raise TimeoutError(f"only {pool._work_queue.qsize()} of {count} requests queued in {BARRIER_TIMEOUT} s")


def _host_pool() -> ThreadPoolExecutor:
    [server] = [obj for obj in gc.get_objects() if isinstance(obj, grpc_server._Server)]
    pool = server._state.thread_pool
    assert isinstance(pool, ThreadPoolExecutor)
    return pool


def _widen() -> dict[str, Any]:
    if getattr(sys.modules["__main__"].__spec__, "name", None) != "pulumi.dynamic.__main__":
        return {}  # imported by the test itself, not unpickled in the host
    pool = _host_pool()
    if hold := int(os.environ.get("HOST_PROBE_WIDEN_AFTER_QUEUED", "0")):
        _wait_until_queued(pool, hold)
    queued = pool._work_queue.qsize()
    # Imported only now, since importing the package may itself widen the pool (snapshot_provider/__init__.py).
    from snapshot_provider.dynamic import host

    widened_to = host.adapt_dynamic_provider_host()
    return {"queued_at_widening": queued, "widened_to": widened_to, "threads_after_widening": len(pool._threads)}


WIDENING = _widen()


class ProbeProvider(ResourceProvider):
    """Its create returns whether the barrier passed, and how many creates the host ran at once so far."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        global _running, _peak
        with _lock:
            _running += 1
            _peak = max(_peak, _running)
        try:
            _barrier.wait()
            barrier = "passed"
        except threading.BrokenBarrierError:
            barrier = "broken"
        finally:
            with _lock:
                _running -= 1
                peak = _peak
        return CreateResult(id_=f"probe-{props['n']}", outs={"barrier": barrier, "peak": peak, **WIDENING})


class WaitingProbe(ResourceProvider):
    """Its create waits, through the package's shared poller, for a snapshot that stays pending for ever: only the
    engine's Cancel can end it (then the create fails with the message the test looks for)."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        from snapshot_provider.core import waiting
        from snapshot_provider.ec2.errors import SnapshotProviderError

        def describe(ids: list[str]) -> list[dict[str, Any]]:
            return [{"SnapshotId": sid, "State": "pending", "Progress": "1%"} for sid in ids]

        try:
            waiting.poller_for("probe", describe).wait(["snap-probe"], timeout=3600)
        except waiting.WaitCancelled:
            raise SnapshotProviderError("the wait for snap-probe was cancelled") from None
        return CreateResult(id_="never", outs={})


class FailingProbe(ResourceProvider):
    """Its create fails the way the package's errors do: a SnapshotProviderError raised from an AWS error."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        from botocore.exceptions import ClientError

        from snapshot_provider.ec2.errors import aws_errors

        with aws_errors("taking the probe's snapshot", volume_id="vol-probe"):
            raise ClientError({"Error": {"Code": "InvalidVolume.NotFound", "Message": "no such volume"}}, "Create")
        raise AssertionError("unreachable")
