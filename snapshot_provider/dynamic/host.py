"""Adapts Pulumi's Python dynamic-provider host, from inside it, in three ways the SDK has no setting for.

The SDK's host (`python -m pulumi.dynamic`, which every Pulumi CLI starts through `pulumi-resource-pulumi-python`)
first runs our code when it unpickles a provider, inside an RPC handler: so `adapt_dynamic_provider_host()` is called
when `snapshot_provider` is imported, and acts only in that process. Each adaptation checks the shapes it relies on
and, if they are not as expected, changes nothing and says so on stderr (which the Pulumi CLI shows) and through
`logging`, naming the versions; `tests/test_host.py` checks those shapes, so an SDK upgrade that breaks one fails
there (scripts/check_sdk.sh runs that check against another pulumi version).

1. Every operation at once, not 4 (`_widen`). The host serves gRPC from a
   `ThreadPoolExecutor(max_workers=4)`, and a `create` holds its worker until its snapshot completes, so a stack of
   64 snapshots would be waited for 4 at a time. This raises the pool's worker limit and starts workers for the
   requests already queued behind the 4 busy ones (an executor starts threads only in `submit`). The engine's own
   `--parallel` then bounds how many operations run at once. Why it is safe: threads are still started on demand, one
   per request that finds no idle worker, so the host holds about as many threads as it ever ran operations at once;
   a waiting `create` blocks on a condition variable of the shared poller (`waiting.py`), not on CPU, and all of them
   share one DescribeSnapshots loop. Handlers already ran on 4 threads at once, so nothing runs concurrently that
   could not before.

2. Ctrl-C ends the waits (`_hook_cancel`). On the first Ctrl-C the engine sends every provider `Cancel` and then
   waits for the operations in flight; the SDK's host answers `Cancel` and does nothing else, so a create waiting
   for its snapshot kept the CLI waiting up to its timeout (24 h by default). A gRPC handler placed before the SDK's
   for that one method calls `cancel.cancel_waits()` first: every wait in the process ends at once, leaving its
   snapshots tagged for the next `up` to adopt.

3. Errors read as one paragraph (`_shorten_provider_errors`). From pulumi 3.27x, the host wraps each handler so
   that an exception becomes `context.abort(UNKNOWN, traceback.format_exc())`: every message of ours (which already
   says what, where and the fix) reached the user as a ~56-line traceback. The host's `traceback` name is pointed
   at a copy of the module whose `format_exc` gives this package's own errors as their message alone; anything else
   (a bug) keeps its traceback. Older hosts let the exception reach gRPC, which reports its message (after
   "Exception calling application: "): nothing to do there.

Diagnostic / benchmark knob: `SNAPSHOT_PROVIDER_HOST_WORKERS`, in the environment of `pulumi up` (the host inherits it),
is the most operations the host runs at once; default 1024, a ceiling on the host's threads rather than a target (the
engine's `--parallel`, 4 per CPU by default, is the real limit). `SNAPSHOT_PROVIDER_HOST_WORKERS=4` (or less) leaves
the SDK's pool untouched, to measure the old behaviour (and then `Cancel` may wait for a free worker).
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
import traceback
import types
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import grpc

from snapshot_provider.core.progress import DEFAULT_WORKERS, WORKERS_ENV
from snapshot_provider.ec2 import cancel
from snapshot_provider.ec2.errors import provider_error_or_traceback
from snapshot_provider.process.engine_log import is_dynamic_provider_host

log = logging.getLogger("snapshot_provider.host")  # the name users filter on since 0.1.0, kept through the move
# `_report` writes its one stderr line itself; this keeps an unconfigured `logging` from printing it a second time
# (through its last-resort handler) while configured handlers, and pytest's caplog, still receive the record.
log.addHandler(logging.NullHandler())

# What the SDK's host runs with, and the SDK versions this module was checked against (tests/test_host.py checks the
# shapes it relies on, whatever the version; scripts/check_sdk.sh runs those checks against another one).
SDK_HOST_WORKERS = 4
CHECKED_WITH_PULUMI = ("3.259.0", "3.272.0")
CANCEL_METHOD = "/pulumirpc.ResourceProvider/Cancel"
T = TypeVar("T")

# Used under the executor's `_shutdown_lock`, as `ThreadPoolExecutor.submit` does.
_POOL_INTERNALS = ("_shutdown_lock", "_max_workers", "_shutdown", "_broken", "_idle_semaphore", "_work_queue")
_POOL_METHODS = ("_adjust_thread_count",)

_lock = threading.Lock()
_done = False
_result: int | None = None


class _NotWidened(Exception):
    """Why the host was left as the SDK made it, in one respect."""


def adapt_dynamic_provider_host() -> int | None:
    """In Pulumi's dynamic-provider host: every operation at once, Ctrl-C that ends the waits, errors as one paragraph.

    Returns the most operations the host's pool now runs at once; None outside the host, with
    `SNAPSHOT_PROVIDER_HOST_WORKERS` at or below 4, or when the host is not shaped as expected (reported on stderr,
    once per adaptation that could not be made). The first call in a process does the work; later calls return its
    result.
    """
    global _done, _result
    if _done:
        return _result
    with _lock:
        if not _done:
            _result = _adapt() if is_dynamic_provider_host() else None
            _done = True
    return _result


_WIDENING = ("widen the thread pool", f"Snapshots will be created and waited for {SDK_HOST_WORKERS} at a time")
_CANCELLING = ("pass Ctrl-C (the engine's Cancel) to the waits", "The first Ctrl-C waits for every wait to end")
_SHORTENING = ("shorten provider errors to their message", "Errors are shown with a Python traceback")
_ADAPTING = ("adapt the host", f"{_WIDENING[1]}, and the first Ctrl-C waits for every wait to end")


def _adapt() -> int | None:
    workers = _attempt(_WIDENING, _workers_wanted) or SDK_HOST_WORKERS
    server = _attempt(_ADAPTING, _find_host_server)
    widened = None
    if server is not None:
        if workers > SDK_HOST_WORKERS:
            widened = _attempt(_WIDENING, lambda: _widen(_thread_pool_of(server), workers))
        _attempt(_CANCELLING, lambda: _hook_host_cancel(server))
    _attempt(_SHORTENING, lambda: _shorten_provider_errors(sys.modules["__main__"]))
    return widened


def _attempt(adaptation: tuple[str, str], make: Callable[[], T]) -> T | None:
    """`make()`, or None with the reason reported: an adaptation must never take the provider down."""
    try:
        return make()
    except _NotWidened as e:
        _report(str(e), *adaptation)
    except Exception as e:
        _report(f"unexpected {type(e).__name__}: {e}", *adaptation)
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


def _find_host_server() -> object:
    """The host's gRPC server: the only `grpc._server._Server` in the process.

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
    return servers[0]


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


# --- 2. Ctrl-C ---------------------------------------------------------------------------------------------------
def _hook_host_cancel(server: object) -> None:

    _hook_cancel(server, cancel.cancel_waits)


def _hook_cancel(server: object, on_cancel: Callable[[], object]) -> None:
    """Have `server` call `on_cancel` when it receives the provider protocol's `Cancel`, before the SDK's handler.

    gRPC asks its generic handlers, in order, for each call's method handler; the SDK's host registers its servicer
    as one (generated code: `add_generic_rpc_handlers`), and this one goes first for `Cancel` only."""
    state = getattr(server, "_state", None)
    handlers = getattr(state, "generic_handlers", None)
    if not isinstance(handlers, list):
        raise _NotWidened(f"the grpc server's _state.generic_handlers is a {type(handlers).__name__}, not a list")
    if CANCEL_METHOD in (getattr(state, "registered_method_handlers", None) or {}):
        raise _NotWidened(f"the grpc server serves {CANCEL_METHOD} as a registered method, not a generic handler")
    handlers.insert(0, _CancelFirst(list(handlers), on_cancel))


class _CancelFirst(grpc.GenericRpcHandler):  # type: ignore[misc]  # grpc ships no types
    """For `Cancel`: the SDK's own handler, with `on_cancel` called first. Other methods: not this handler's."""

    def __init__(self, others: list[Any], on_cancel: Callable[[], object]) -> None:
        self._others = others
        self._on_cancel = on_cancel

    def service(self, handler_call_details: Any) -> Any:
        if handler_call_details.method != CANCEL_METHOD:
            return None
        for other in self._others:
            handler = other.service(handler_call_details)
            if handler is not None and handler.unary_unary is not None:
                return handler._replace(unary_unary=self._then(handler.unary_unary))
        return None

    def _then(self, sdk_cancel: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def cancel(request: Any, context: Any) -> Any:
            try:
                self._on_cancel()
            except Exception:  # the SDK's answer must still go out
                log.exception("ending the waits on Cancel failed")
            return sdk_cancel(request, context)

        return cancel


# --- 3. errors as one paragraph --------------------------------------------------------------------------------------
def _shorten_provider_errors(main_module: types.ModuleType) -> bool:
    """Where the host formats handler exceptions with `traceback.format_exc()`, have it give this package's errors
    as their message alone. True if the host does (and now gets the message); False if it does not."""
    if getattr(main_module, "traceback", None) is not traceback:
        return False  # no traceback formatting in this host: exceptions reach gRPC, which reports their message
    shim = types.ModuleType("traceback", "The traceback module, but this package's errors are their message alone.")
    shim.__dict__.update({k: v for k, v in vars(traceback).items() if not k.startswith("__")})
    shim.format_exc = provider_error_or_traceback  # type: ignore[attr-defined]
    main_module.traceback = shim  # type: ignore[attr-defined]
    return True


def _report(reason: str, what: str = _WIDENING[0], otherwise: str = _WIDENING[1]) -> None:
    message = " ".join(
        [
            f"snapshot_provider: did not {what} in Pulumi's dynamic-provider host ({_versions()}):",
            f"{reason}.",
            f"{otherwise} (the SDK host's own behaviour).",
            f"snapshot_provider/host.py was checked against pulumi {', '.join(CHECKED_WITH_PULUMI)};",
            f"{WORKERS_ENV}={SDK_HOST_WORKERS} skips the widening.",
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
