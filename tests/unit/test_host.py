"""snapshot_provider.dynamic.host against the SDK's real dynamic-provider host (`python -m pulumi.dynamic`), with this
test as the engine: it starts the host, connects to the port it prints, and sends `Create` requests the way the engine
does. The provider is tests/host_probe.py, whose creates wait at a barrier of 12 inside the host."""

from __future__ import annotations

import ast
import asyncio
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2
from host_probe import PARTIES, FailingProbe, ProbeProvider, WaitingProbe
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import proto, rpc
from pulumi.runtime.proto import provider_pb2_grpc

from snapshot_provider.dynamic import host
from snapshot_provider.process.engine_log import HOST_MAIN_MODULE, is_dynamic_provider_host

ROOT = Path(__file__).resolve().parents[2]
RPC_TIMEOUT = 120.0


def pythonpath() -> list[str]:
    return [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]


@contextmanager
def dynamic_provider_host(tmp_path: Path, **env: str) -> Iterator[provider_pb2_grpc.ResourceProviderStub]:
    """The SDK's host, started as every Pulumi CLI starts it, with this repository and tests/ importable."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SNAPSHOT_PROVIDER_HOST_", "HOST_PROBE_"))}
    # What is on PYTHONPATH already comes first: scripts/check_sdk.sh puts another pulumi SDK there.
    environ.update(PYTHONPATH=os.pathsep.join([*pythonpath(), str(ROOT), str(ROOT / "tests" / "helpers")]), **env)
    stderr_path = tmp_path / "host.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.dynamic", "127.0.0.1:0"],  # the engine's address, unused by the host
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=environ,
            cwd=tmp_path,
        )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().decode().strip()
        assert port.isdigit(), f"the host printed {port!r}, not its port; stderr: {stderr_path.read_text()}"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=RPC_TIMEOUT)
            yield provider_pb2_grpc.ResourceProviderStub(channel)
    finally:
        process.kill()
        process.wait()


def create_at_once(stub: provider_pb2_grpc.ResourceProviderStub, count: int = PARTIES) -> list[dict[str, Any]]:
    """Sends `count` Create requests for ProbeProvider resources without waiting, then collects their outputs."""
    provider = serialize_provider(ProbeProvider())
    requests = [
        proto.CreateRequest(
            urn=f"urn:pulumi:test::host::pulumi-python:dynamic:Resource::probe-{n}",
            properties=asyncio.run(rpc.serialize_properties({"__provider": provider, "n": n}, {})),
        )
        for n in range(count)
    ]
    calls = [stub.Create.future(request, timeout=RPC_TIMEOUT) for request in requests]
    return [rpc.deserialize_properties(call.result().properties) for call in calls]


def test_host_runs_every_create_at_once(tmp_path: Path) -> None:
    with dynamic_provider_host(tmp_path) as stub:
        outs = create_at_once(stub)

    assert [out["barrier"] for out in outs] == ["passed"] * PARTIES
    assert max(out["peak"] for out in outs) == PARTIES
    assert outs[0]["widened_to"] == host.DEFAULT_WORKERS
    assert "did not widen" not in (tmp_path / "host.stderr").read_text()


def test_host_workers_4_keeps_the_sdk_host_at_4_creates_at_once(tmp_path: Path) -> None:
    # With 4 workers the barrier of 12 can never fill, however long it waits: a short timeout only makes this quicker.
    with dynamic_provider_host(tmp_path, SNAPSHOT_PROVIDER_HOST_WORKERS="4", HOST_PROBE_BARRIER_TIMEOUT="3") as stub:
        outs = create_at_once(stub)

    assert [out["barrier"] for out in outs] == ["broken"] * PARTIES
    assert max(out["peak"] for out in outs) == host.SDK_HOST_WORKERS
    assert outs[0].get("widened_to") is None  # None outputs are dropped on the wire


def test_requests_queued_before_widening_are_served(tmp_path: Path) -> None:
    # The probe widens the pool only once 8 creates wait behind the 4 busy workers, and no request comes after them:
    # only workers started for queued requests can bring all 12 to the barrier.
    with dynamic_provider_host(tmp_path, HOST_PROBE_WIDEN_AFTER_QUEUED=str(PARTIES - host.SDK_HOST_WORKERS)) as stub:
        outs = create_at_once(stub)

    assert outs[0]["queued_at_widening"] == PARTIES - host.SDK_HOST_WORKERS
    assert outs[0]["threads_after_widening"] == PARTIES
    assert [out["barrier"] for out in outs] == ["passed"] * PARTIES


class BarrierWork:
    """Work items that wait at a barrier of 12, and count themselves in first so that a test can wait until they run."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(PARTIES, timeout=60)
        self.started = 0
        self.changed = threading.Condition()

    def __call__(self) -> int:
        with self.changed:
            self.started += 1
            self.changed.notify_all()
        return self.barrier.wait()

    def until_started(self, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.started >= count, timeout=60)


def test_widening_starts_workers_for_items_queued_behind_busy_ones() -> None:
    pool = futures.ThreadPoolExecutor(max_workers=host.SDK_HOST_WORKERS)
    work = BarrierWork()
    waiting = [pool.submit(work) for _ in range(PARTIES)]  # nothing is submitted after these
    work.until_started(host.SDK_HOST_WORKERS)
    assert pool._work_queue.qsize() == PARTIES - host.SDK_HOST_WORKERS

    assert host._widen(pool, 64) == 64

    assert sorted(f.result() for f in waiting) == list(range(PARTIES))  # the barrier's arrival indexes: all passed
    pool.shutdown()


def test_widening_starts_workers_despite_an_idle_count_left_by_a_burst() -> None:
    # CPython's idle count goes up once per finished item, also for items that queued because the pool was full: after
    # this burst it counts 8 idle threads, there are 4. Left so, the next submits would take its word and start none.
    pool = futures.ThreadPoolExecutor(max_workers=host.SDK_HOST_WORKERS)
    gate = threading.Event()
    burst = [pool.submit(gate.wait) for _ in range(2 * host.SDK_HOST_WORKERS)]
    gate.set()
    futures.wait(burst)
    work = BarrierWork()
    waiting = [pool.submit(work) for _ in range(host.SDK_HOST_WORKERS)]
    work.until_started(host.SDK_HOST_WORKERS)  # the 4 threads are busy, nothing is queued, the count still says idle

    host._widen(pool, 64)
    waiting += [pool.submit(work) for _ in range(PARTIES - host.SDK_HOST_WORKERS)]

    assert sorted(f.result() for f in waiting) == list(range(PARTIES))
    pool.shutdown()


def run_as_host(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Runs `code` in a fresh interpreter that claims to be the dynamic-provider host, then widens from 8 threads at
    once, as handler threads of the host may (it prints the set of their results)."""
    script = textwrap.dedent(
        """
        import importlib.machinery, sys
        sys.modules["__main__"].__spec__ = importlib.machinery.ModuleSpec("pulumi.dynamic.__main__", None)
        """
    )
    script += textwrap.dedent(code)
    script += textwrap.dedent(
        """
        import threading
        from snapshot_provider.dynamic import host
        results = set()
        start = threading.Barrier(8)
        def widen():
            start.wait()
            results.add(host.adapt_dynamic_provider_host())
        threads = [threading.Thread(target=widen) for _ in range(8)]
        for thread in threads: thread.start()
        for thread in threads: thread.join()
        print("results:", results)
        """
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SNAPSHOT_PROVIDER_HOST_")}
    environ.update(PYTHONPATH=os.pathsep.join([*pythonpath(), str(ROOT)]), **env)
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environ, cwd=ROOT, timeout=RPC_TIMEOUT
    )


GRPC_SERVER = "import grpc\nfrom concurrent import futures\n"
ONE_SERVER = GRPC_SERVER + "server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))"


@pytest.mark.parametrize(
    ("setup", "env", "reason"),
    [
        ("", {}, "expected one grpc server (grpc._server._Server) in the process, found 0"),
        (
            GRPC_SERVER + "servers = [grpc.server(futures.ThreadPoolExecutor(max_workers=4)) for _ in range(2)]",
            {},
            "found 2",
        ),
        (
            GRPC_SERVER + "class Pool(futures.Executor): pass\nserver = grpc.server(Pool())",
            {},
            "the grpc server's _state.thread_pool is a Pool, not a ThreadPoolExecutor",
        ),
        (
            GRPC_SERVER + "pool = futures.ThreadPoolExecutor(max_workers=4)\ndel pool._idle_semaphore\n"
            "server = grpc.server(pool)",
            {},
            "its ThreadPoolExecutor has no _idle_semaphore",
        ),
        (
            ONE_SERVER,
            {"SNAPSHOT_PROVIDER_HOST_WORKERS": "many"},
            "SNAPSHOT_PROVIDER_HOST_WORKERS='many' is not a positive",
        ),
    ],
    ids=["no-server", "two-servers", "not-a-thread-pool", "missing-internal", "bad-env"],
)
def test_unexpected_host_shape_is_reported_once_and_changes_nothing(
    setup: str, env: dict[str, str], reason: str
) -> None:
    result = run_as_host(setup, **env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "results: {None}"
    [line] = result.stderr.splitlines()
    assert reason in line
    assert f"(pulumi {importlib.metadata.version('pulumi')}, grpcio {grpc.__version__}, Python " in line
    assert "Snapshots will be created and waited for 4 at a time" in line


def test_host_workers_4_skips_the_widening_without_a_word() -> None:
    result = run_as_host(ONE_SERVER, SNAPSHOT_PROVIDER_HOST_WORKERS="4")

    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "results: {None}", "")


def test_outside_the_host_nothing_happens(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    assert not is_dynamic_provider_host()
    assert host.adapt_dynamic_provider_host() is None
    assert (caplog.records, capsys.readouterr().err) == ([], "")


def test_sdk_host_is_shaped_as_the_adaptations_expect() -> None:
    """Fails when an upgrade of pulumi or grpcio changes what host.py relies on, whatever the version numbers say (an
    upgrade that keeps these shapes is fine: scripts/check_sdk.sh runs this file against another pulumi). Read
    host.py's docstring, then fix or drop the adaptation that broke."""
    spec = importlib.util.find_spec(HOST_MAIN_MODULE)  # the module `python -m pulumi.dynamic` runs
    assert spec is not None and spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text())

    # 1. widening: main() serves from a ThreadPoolExecutor of 4, with no cap on concurrent RPCs.
    main = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "main")
    [server_call] = [
        node for node in ast.walk(main) if isinstance(node, ast.Call) and ast.unparse(node.func) == "grpc.server"
    ]
    assert ast.unparse(server_call.args[0]) == f"futures.ThreadPoolExecutor(max_workers={host.SDK_HOST_WORKERS})"
    assert "maximum_concurrent_rpcs" not in {keyword.arg for keyword in server_call.keywords}
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=host.SDK_HOST_WORKERS))
    assert host._thread_pool_of(server)._max_workers == host.SDK_HOST_WORKERS

    # 2. Cancel: the servicer is registered as a generic handler that serves Cancel (test_cancel_* sends one).
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(provider_pb2_grpc.ResourceProviderServicer(), server)
    host._hook_cancel(server, lambda: None)

    # 3. errors: where the host formats exceptions, it is only ever with `traceback.format_exc()`, looked up at call
    # time in its own module (so the shim is what it calls); else they reach gRPC, which keeps to their message.
    uses = [
        node for node in ast.walk(tree) if isinstance(node, ast.Attribute) and ast.unparse(node.value) == "traceback"
    ]
    assert {node.attr for node in uses} <= {"format_exc"}

    # Every Pulumi CLI starts the host through a launcher that runs `python -m pulumi.dynamic`: this project's, for one.
    assert "-m pulumi.dynamic" in (ROOT / "engine" / "pulumi-resource-pulumi-python").read_text()


def probe_request(provider: Any, n: int = 0) -> proto.CreateRequest:
    return proto.CreateRequest(
        urn=f"urn:pulumi:test::host::pulumi-python:dynamic:Resource::probe-{n}",
        properties=asyncio.run(rpc.serialize_properties({"__provider": serialize_provider(provider), "n": n}, {})),
    )


def test_cancel_ends_a_wait_in_the_host_within_seconds(tmp_path: Path) -> None:
    with dynamic_provider_host(tmp_path) as stub:
        create = stub.Create.future(probe_request(WaitingProbe()), timeout=RPC_TIMEOUT)
        with pytest.raises(grpc.FutureTimeoutError):
            create.result(timeout=2)  # waiting, as a create does for a snapshot that takes hours

        started = time.monotonic()
        stub.Cancel(empty_pb2.Empty(), timeout=RPC_TIMEOUT)
        with pytest.raises(grpc.RpcError) as failed:
            create.result(timeout=RPC_TIMEOUT)

    assert time.monotonic() - started < 10
    assert failed.value.details().endswith("the wait for snap-probe was cancelled")


def test_provider_errors_reach_the_engine_as_one_paragraph(tmp_path: Path) -> None:
    with dynamic_provider_host(tmp_path) as stub, pytest.raises(grpc.RpcError) as failed:
        stub.Create(probe_request(FailingProbe()), timeout=RPC_TIMEOUT)

    details = failed.value.details()
    assert "Traceback" not in details and "\n" not in details, details
    assert details.endswith(
        "taking the probe's snapshot (volume_id=vol-probe) failed: InvalidVolume.NotFound: no such volume "
        "Check volume_id, and that region and the account (profile/role_arn) are the volume's."
    )
