"""gRPC server set-up shared by the control plane and the nodes: health, reflection, errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from browserplane import errors
from browserplane.errors import BrowserplaneError
from browserplane.tls import TlsFiles

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


class _Undecodable:
    """Stands in for a request whose bytes are not the message the method takes."""

    def __init__(self, error: DecodeError) -> None:
        self.error = error


def _lenient(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    # grpc answers a deserializer's exception with UNKNOWN; keep it, and answer it ourselves.
    if deserializer is None:
        return None

    def decode(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except DecodeError as err:
            return _Undecodable(err)

    return decode


def _checked(request: Any) -> Any:
    if isinstance(request, _Undecodable):
        raise request.error
    return request


async def _checked_stream(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        yield _checked(request)


async def _abort(context: grpc.aio.ServicerContext, err: Exception) -> None:
    """Every failure as a status with ErrorInfo: ours as they are, bytes that do not decode as
    INVALID_ARGUMENT, and anything else (a bug) as INTERNAL, logged, never UNKNOWN."""
    if isinstance(err, BrowserplaneError):
        await context.abort_with_status(err.to_status())
    if isinstance(err, DecodeError):
        await context.abort_with_status(errors.undecodable(str(err)).to_status())
    log.error("call failed", exc_info=err)
    await context.abort_with_status(errors.internal(type(err).__name__).to_status())


DRAIN_SECONDS = 5.0


async def _drain(requests: AsyncIterator[Any]) -> None:
    """Reads what a client is still streaming before the error goes out (for a while at most).

    A grpc.aio client that is still writing when the server ends the call replaces the server's
    status with INTERNAL "Internal error from Core"; a name refused on the first chunk of an
    upload would reach the caller as that instead of INVALID_ARGUMENT.
    """
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in requests:
                pass
    except Exception:  # noqa: BLE001 - a timeout or a broken stream: the error goes out anyway
        pass


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Turns what a servicer raises into a status with ErrorInfo details (see `_abort`)."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        decode = _lenient(handler.request_deserializer)
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                try:
                    return await inner(_checked(request), context)
                except grpc.aio.AbortError:
                    raise
                except Exception as err:  # noqa: BLE001 - see _abort
                    await _abort(context, err)

            return grpc.unary_unary_rpc_method_handler(unary, decode, handler.response_serializer)
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
                try:
                    async for item in inner_stream(_checked(request), context):
                        yield item
                except grpc.aio.AbortError:
                    raise
                except Exception as err:  # noqa: BLE001 - see _abort
                    await _abort(context, err)

            return grpc.unary_stream_rpc_method_handler(unary_stream, decode,
                                                        handler.response_serializer)
        if handler.stream_unary is not None:
            inner_su = handler.stream_unary

            async def stream_unary(request_iter: Any, context: grpc.aio.ServicerContext) -> Any:
                try:
                    return await inner_su(_checked_stream(request_iter), context)
                except grpc.aio.AbortError:
                    await _drain(request_iter)
                    raise
                except Exception as err:  # noqa: BLE001 - see _abort
                    await _drain(request_iter)
                    await _abort(context, err)

            return grpc.stream_unary_rpc_method_handler(stream_unary, decode,
                                                        handler.response_serializer)
        return handler


async def start_server(
    address: str,
    registrations: Iterable[tuple[Callable[[Any, grpc.aio.Server], None], Any, str]],
    generic: Iterable[tuple[grpc.GenericRpcHandler, str]] = (),
    tls: TlsFiles | None = None,
    health_address: str = "",
) -> tuple[grpc.aio.Server, int]:
    """Starts a grpc.aio server with health checking and reflection; returns it and its port.

    `registrations` holds (add_XServicer_to_server, servicer, full service name) triples;
    `generic` holds (handler, full service name) pairs for services served without stubs.
    With `tls`, the port is mutual TLS; `health_address` adds a plaintext port that serves the
    health service only (probes that cannot do TLS), stopped with the server.
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
    if tls is not None and tls.enabled:
        port = server.add_secure_port(address, tls.server_credentials())
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot bind gRPC server to {address}")
    health_server = None
    if health_address:
        # Its own server: a plaintext port on the main one would serve every service.
        health_server = grpc.aio.server(options=SERVER_OPTIONS)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, health_server)
        if health_server.add_insecure_port(health_address) == 0:
            raise OSError(f"cannot bind the gRPC health port to {health_address}")
        await health_server.start()
        # Callers stop the server they were given; its health port goes with it.
        _stop = server.stop

        async def stop(grace: float | None) -> None:
            await health_server.stop(grace)
            await _stop(grace)

        server.stop = stop  # type: ignore[method-assign]
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    for name in names:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, port


def channel(target: str, tls: TlsFiles | None = None) -> grpc.aio.Channel:
    """A grpc.aio channel with the shared message-size and keep-alive options: mutual TLS with
    `tls`, else plaintext."""
    if tls is not None and tls.enabled:
        return grpc.aio.secure_channel(target, tls.channel_credentials(),
                                       options=CHANNEL_OPTIONS + tls.channel_options())
    return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)


def sync_channel(target: str, tls: TlsFiles | None = None) -> grpc.Channel:
    """The same for a synchronous client (the node's lease thread, the CLI)."""
    if tls is not None and tls.enabled:
        return grpc.secure_channel(target, tls.channel_credentials(),
                                   options=CHANNEL_OPTIONS + tls.channel_options())
    return grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
