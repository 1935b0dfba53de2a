"""Serves `EbsSnapshotsProvider` with the SDK's provider servicer (`pulumi.provider.experimental`), its errors as
the user should read them.

The SDK's own `main` serves the same servicer, but an error raised in an operation reaches the user as grpc's
"Unexpected <class '...'>: ...": here each operation's error becomes its message alone (this package's errors say
what, where and the fix) or, for a bug, its traceback, as `host.py` does for the dynamic host.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
import grpc.aio
from pulumi.provider.experimental.server import ProviderServicer
from pulumi.runtime.proto import provider_pb2_grpc

from snapshot_provider.ec2.errors import provider_error_or_traceback
from snapshot_provider.plugin.package_schema import version
from snapshot_provider.plugin.provider import EbsSnapshotsProvider
from snapshot_provider.process.engine_log import connect_engine_log

# As the SDK's servers: messages up to 400 MiB (a series' state), idle streams kept for half an hour.
GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", 400 * 1024 * 1024),
    ("grpc.server_max_unrequested_time_in_server", 30 * 60),
]
OPERATIONS = ("Check", "Diff", "Create", "Read", "Update", "Delete", "GetSchema", "Configure")

Handler = Callable[[Any, Any, Any], Awaitable[Any]]


def _said_clearly(operation: Handler) -> Handler:
    async def handle(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await operation(self, request, context)
        except Exception:
            await context.abort(grpc.StatusCode.UNKNOWN, provider_error_or_traceback())

    return handle


class Servicer(ProviderServicer):
    """The SDK's servicer, each operation's error said clearly (see the module docstring)."""


for _name in OPERATIONS:
    setattr(Servicer, _name, _said_clearly(getattr(ProviderServicer, _name)))


def serve(args: Sequence[str]) -> None:
    """Serve until the engine ends; `args` are the plugin's (the engine address first, then flags). Prints the port,
    as every plugin does."""
    parser = argparse.ArgumentParser(description="the ebs-snapshots provider plugin")
    parser.add_argument("engine", help="the Pulumi engine's address")
    engine = parser.parse_known_args(list(args))[0].engine
    connect_engine_log(engine)  # progress lines next to each resource, as in the dynamic host

    async def run() -> None:
        server = grpc.aio.server(options=GRPC_OPTIONS)
        servicer = Servicer(list(args), version(), EbsSnapshotsProvider(), engine_address=engine)
        provider_pb2_grpc.add_ResourceProviderServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        sys.stdout.write(f"{port}\n")
        sys.stdout.flush()
        await server.wait_for_termination()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
