"""Lets Pulumi's Python dynamic-provider host run every operation the engine sends at once, not 4 at a time.

The SDK's host (`python -m pulumi.dynamic`, which every Pulumi CLI starts through `pulumi-resource-pulumi-python`)
serves gRPC from a `ThreadPoolExecutor(max_workers=4)`, and a `create` holds its worker until its snapshot completes,
so a stack of 64 snapshots would be waited for 4 at a time. The SDK has no setting for this, and the host first runs
our code when it unpickles a provider, inside an RPC handler: so `widen_dynamic_provider_host()` is called when
`snapshot_provider` is imported, and acts only in that process. There it raises the pool's worker limit and starts
workers for the requests already queued behind the 4 busy ones (an executor starts threads only in `submit`). The
engine's own `--parallel` then bounds how many operations run at once.

Why it is safe: threads are still started on demand, one per request that finds no idle worker, so the host holds
about as many threads as it ever ran operations at once; a waiting `create` blocks on a condition variable of the
shared poller (`waiting.py`), not on CPU, and all of them share one DescribeSnapshots loop. Handlers already ran on 4
threads at once, so nothing runs concurrently that could not before.

This relies on private internals of grpcio and `concurrent.futures` (see `_thread_pool_of` and `_POOL_INTERNALS`). If
they are not as expected it changes nothing and says so, on stderr (which the Pulumi CLI shows) and through `logging`,
naming the versions; `tests/test_host.py` pins the assumptions, so an upgrade that breaks them fails there.

Diagnostic / benchmark knob: `SNAPSHOT_PROVIDER_HOST_WORKERS`, in the environment of `pulumi up` (the host inherits it),
is the most operations the host runs at once; default 1024, a ceiling on the host's threads rather than a target (the
engine's `--parallel`, 4 per CPU by default, is the real limit). `SNAPSHOT_PROVIDER_HOST_WORKERS=4` (or less) leaves
the SDK's host untouched, to measure the old behaviour.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.metadata
import logging
import os
import platform
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)
# `_report` writes its one stderr line itself; this keeps an unconfigured `logging` from printing it a second time
# (through its last-resort handler) while configured handlers, and pytest's caplog, still receive the record.
log.addHandler(logging.NullHandler())

HOST_MAIN_MODULE = "pulumi.dynamic.__main__"
WORKERS_ENV = "SNAPSHOT_PROVIDER_HOST_WORKERS"
DEFAULT_WORKERS = 1024
# What the SDK's host runs with, and the SDK this module was last checked against (tests/test_host.py pins both).
SDK_HOST_WORKERS = 4
CHECKED_WITH_PULUMI = "3.259.0"

# Used under the executor's `_shutdown_lock`, as `ThreadPoolExecutor.submit` does.
_POOL_INTERNALS = ("_shutdown_lock", "_max_workers", "_shutdown", "_broken", "_idle_semaphore", "_work_queue")
_POOL_METHODS = ("_adjust_thread_count",)

_lock = threading.Lock()
_done = False
_result: int | None = None


class _NotWidened(Exception):
    """Why the host's pool was left as the SDK made it."""


def widen_dynamic_provider_host() -> int | None:
    """In Pulumi's dynamic-provider host, let its gRPC server run as many operations at once as the engine sends.

    Returns the most operations the host's pool now runs at once; None outside the host, with
    `SNAPSHOT_PROVIDER_HOST_WORKERS` at or below 4, or when the host is not shaped as expected (reported on stderr).
    The first call in a process does the work; later calls return its result.
    """
    global _done, _result
    if _done:
        return _result
    with _lock:
        if not _done:
            _result = _widen_host()
            _done = True
    return _result


def is_dynamic_provider_host() -> bool:
    """Whether this process is the SDK's dynamic-provider host, i.e. was started as `python -m pulumi.dynamic`."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", None) == HOST_MAIN_MODULE


def _widen_host() -> int | None:
    if not is_dynamic_provider_host():
        return None
    try:
        workers = _workers_wanted()
        if workers <= SDK_HOST_WORKERS:
            return None
        return _widen(_find_host_pool(), workers)
    except _NotWidened as e:
        _report(str(e))
    except Exception as e:  # an optimisation must never take the provider down
        _report(f"unexpected {type(e).__name__}: {e}")
    return None


def _workers_wanted() -> int:
    raw = os.environ.get(WORKERS_ENV, "").strip()
    if not raw:
        return DEFAULT_WORKERS
    try:
        workers = int(raw)
    except ValueError:
        workers = 0
    if workers < 1:
        raise _NotWidened(
            f"{WORKERS_ENV}={raw!r} is not a positive whole number of workers "
            f"(expected e.g. {DEFAULT_WORKERS}, or {SDK_HOST_WORKERS} to keep the SDK's pool)"
        )
    return workers


def _find_host_pool() -> ThreadPoolExecutor:
    """The thread pool of the host's gRPC server: the only `grpc._server._Server` in the process.

    The host keeps its server in a local variable of `main()`, which never returns, so the garbage collector's list
    of live objects is where to find it. About 0.1 s, once per process.
    """
    try:
        from grpc import _server as grpc_server

        server_class = grpc_server._Server
    except (ImportError, AttributeError) as e:
        raise _NotWidened(f"grpc has no server class grpc._server._Server ({e})") from e
    servers = [obj for obj in gc.get_objects() if isinstance(obj, server_class)]
    if len(servers) != 1:
        raise _NotWidened(f"expected one grpc server (grpc._server._Server) in the process, found {len(servers)}")
    return _thread_pool_of(servers[0])


def _thread_pool_of(server: object) -> ThreadPoolExecutor:
    """The executor a `grpc.server(...)` object submits its RPC handlers to, checked for what `_widen` uses."""
    pool = getattr(getattr(server, "_state", None), "thread_pool", None)
    if not isinstance(pool, ThreadPoolExecutor):
        raise _NotWidened(f"the grpc server's _state.thread_pool is a {type(pool).__name__}, not a ThreadPoolExecutor")
    missing = [name for name in _POOL_INTERNALS if not hasattr(pool, name)]
    missing += [name for name in _POOL_METHODS if not callable(getattr(pool, name, None))]
    if missing:
        raise _NotWidened(f"its ThreadPoolExecutor has no {', '.join(missing)}")
    if not isinstance(pool._max_workers, int):
        raise _NotWidened(f"its ThreadPoolExecutor's _max_workers is a {type(pool._max_workers).__name__}, not an int")
    return pool


def _widen(pool: ThreadPoolExecutor, workers: int) -> int:
    """Let `pool` run up to `workers` threads, and start one for each work item already queued.

    Everything happens under the executor's own lock, as in `submit`. Its idle count is emptied first: in CPython it
    counts finished work items rather than waiting threads (a `submit` that found the pool full takes nothing from it),
    so after a burst of short requests it would tell `_adjust_thread_count` that busy threads are idle, and no thread
    would be started. Emptying it at worst starts a thread for a request an idle one would have taken.
    """
    with pool._shutdown_lock:
        before = pool._max_workers
        if workers <= before or pool._shutdown or pool._broken:
            return before
        pool._max_workers = workers
        while pool._idle_semaphore.acquire(timeout=0):
            pass
        queued = pool._work_queue.qsize()
        for _ in range(queued):
            pool._adjust_thread_count()
    log.info(
        "widened the dynamic-provider host's thread pool from %d to %d workers; started workers for %d queued requests",
        before,
        workers,
        queued,
    )
    return workers


def _report(reason: str) -> None:
    message = " ".join(
        [
            f"snapshot_provider: did not widen the thread pool of Pulumi's dynamic-provider host ({_versions()}):",
            f"{reason}.",
            f"Snapshots will be created and waited for {SDK_HOST_WORKERS} at a time (the SDK host's own pool).",
            f"snapshot_provider/host.py was checked against pulumi {CHECKED_WITH_PULUMI};",
            f"{WORKERS_ENV}={SDK_HOST_WORKERS} skips the attempt.",
        ]
    )
    with contextlib.suppress(OSError, ValueError):  # a closed stderr must not take the provider down either
        print(message, file=sys.stderr, flush=True)
    log.warning(message)


def _versions() -> str:
    found = []
    for dist in ("pulumi", "grpcio"):
        try:
            found.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{dist} not installed")
    return ", ".join([*found, f"Python {platform.python_version()}"])
