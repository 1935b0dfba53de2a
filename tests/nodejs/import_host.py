"""A stand-in for `pulumi-language-nodejs`, for `pulumi import` in the TypeScript end-to-end test only.

`pulumi import` asks the project's language host which plugins the program needs; the Node host is a Go module that
is not served here. This stand-in answers that the program needs none beyond Pulumi.yaml's (`plugins.providers`), as
the Node host answers for a program whose SDKs are installed from a folder, and runs no program: the test runs the
program through the Node SDK's Automation API.
"""

from __future__ import annotations

import sys
from concurrent import futures
from typing import Any

import grpc
from pulumi.runtime.proto import language_pb2, language_pb2_grpc, plugin_pb2


class ImportOnlyHost(language_pb2_grpc.LanguageRuntimeServicer):  # type: ignore[misc]
    def Handshake(self, request: Any, context: Any) -> Any:
        return language_pb2.LanguageHandshakeResponse()

    def GetPluginInfo(self, request: Any, context: Any) -> Any:
        return plugin_pb2.PluginInfo(version="3.259.0")

    def GetRequiredPlugins(self, request: Any, context: Any) -> Any:
        return language_pb2.GetRequiredPluginsResponse()

    def GetRequiredPackages(self, request: Any, context: Any) -> Any:
        return language_pb2.GetRequiredPackagesResponse()

    def Run(self, request: Any, context: Any) -> Any:
        return language_pb2.RunResponse(error="this stand-in Node host runs no programs: use the Automation API")


def main() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(ImportOnlyHost(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)  # the engine reads the port from the first line
    server.wait_for_termination()


if __name__ == "__main__":
    sys.exit(main())
