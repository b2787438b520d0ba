"""gRPC server set-up shared by the control plane and the nodes: health, reflection, errors."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from browserplane.errors import BrowserplaneError

log = logging.getLogger(__name__)

# Screenshots and PDFs of long pages are tens of MB; the default 4 MB cap would refuse them.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]
SERVER_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.so_reuseport", 0),
]


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Turns a `BrowserplaneError` raised by a servicer into a status with ErrorInfo details."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                try:
                    return await inner(request, context)
                except BrowserplaneError as err:
                    await context.abort_with_status(err.to_status())

            return grpc.unary_unary_rpc_method_handler(
                unary, handler.request_deserializer, handler.response_serializer)
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
                try:
                    async for item in inner_stream(request, context):
                        yield item
                except BrowserplaneError as err:
                    await context.abort_with_status(err.to_status())

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, handler.request_deserializer, handler.response_serializer)
        if handler.stream_unary is not None:
            inner_su = handler.stream_unary

            async def stream_unary(request_iter: Any, context: grpc.aio.ServicerContext) -> Any:
                try:
                    return await inner_su(request_iter, context)
                except BrowserplaneError as err:
                    await context.abort_with_status(err.to_status())

            return grpc.stream_unary_rpc_method_handler(
                stream_unary, handler.request_deserializer, handler.response_serializer)
        return handler


async def start_server(
    address: str,
    registrations: Iterable[tuple[Callable[[Any, grpc.aio.Server], None], Any, str]],
    generic: Iterable[tuple[grpc.GenericRpcHandler, str]] = (),
) -> tuple[grpc.aio.Server, int]:
    """Starts a grpc.aio server with health checking and reflection; returns it and its port.

    `registrations` holds (add_XServicer_to_server, servicer, full service name) triples;
    `generic` holds (handler, full service name) pairs for services served without stubs.
    """
    server = grpc.aio.server(interceptors=[ErrorInterceptor()], options=SERVER_OPTIONS)
    names = [reflection.SERVICE_NAME, health.SERVICE_NAME]
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for add, servicer, name in registrations:
        add(servicer, server)
        names.append(name)
    for handler, name in generic:
        server.add_generic_rpc_handlers([handler])
        names.append(name)
    reflection.enable_server_reflection(names, server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot bind gRPC server to {address}")
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    for name in names:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, port


def channel(target: str) -> grpc.aio.Channel:
    """An insecure grpc.aio channel with the shared message-size and keep-alive options."""
    return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
