"""The guard in front of every route (plain ASGI, no framework needed): the ``Host`` header
must name this server (a DNS-rebinding page cannot reach a loopback server under its own
name), and a body may not exceed ``max_bytes``: refused from its ``Content-Length`` before
it is read, or when the bytes received pass the limit (chunked bodies)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .payload import RequestError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def host_of(netloc: str) -> str:
    """``Host`` header or URL authority -> ``name[:port]`` lowercased, without a default port."""
    netloc = netloc.strip().lower()
    for default in (":80", ":443"):
        if netloc.endswith(default):
            return netloc[: -len(default)]
    return netloc


def hostname(netloc: str) -> str:
    """``name`` of ``name[:port]`` (an IPv6 literal in brackets loses them)."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        return netloc[1:].split("]", 1)[0]
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


async def send_error(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Guard:
    def __init__(self, app: ASGIApp, max_bytes: int, hosts: tuple[str, ...] | None) -> None:
        self.app, self.max_bytes, self.hosts = app, max_bytes, hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if self.hosts is not None and hostname(host) not in self.hosts:
            await send_error(
                send,
                400,
                f"the Host header {host!r} does not name this server; use one of {', '.join(self.hosts)}",
            )
            return
        declared = headers.get("content-length", "")
        if declared.strip().isdigit() and int(declared) > self.max_bytes:
            await send_error(send, 413, self._too_large(int(declared)))
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message.get("type") == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise RequestError(413, self._too_large(seen, "at least "))
            return message

        await self.app(scope, counted, send)

    def _too_large(self, size: int, qualifier: str = "") -> str:
        return (
            f"the request body is {qualifier}{size} bytes, above the limit of {self.max_bytes}; "
            "send fewer or smaller images (the server's --max-body-mb)"
        )
