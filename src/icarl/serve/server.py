"""The listening socket and uvicorn around the app: in the foreground (``icarl serve``) or on
a thread (tests, benchmarks). uvicorn is imported here, inside the functions."""

from __future__ import annotations

import errno
import importlib.util
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..errors import IcarlError
from .app import build_app
from .service import Service

NEEDS = ("starlette", "uvicorn", "python_multipart")  # the serve extra's packages (import names)


def missing() -> list[str]:
    """The serve extra's packages that are not installed."""
    return [name for name in NEEDS if importlib.util.find_spec(name) is None]


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one), or a one-line error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say so, and without it
    # every response waits ~40 ms for the client's delayed ACK (Nagle)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(256)
    except OSError as e:
        sock.close()
        fix = "choose another --port" if e.errno == errno.EADDRINUSE else "check --host and --port"
        raise IcarlError(f"cannot listen on {host}:{port}: {e.strerror or e}; {fix}") from None
    return sock


def url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def server(service: Service, access_log: bool = True, max_connections: int = 200) -> Any:
    """A ``uvicorn.Server`` for ``service``'s app (not started)."""
    import uvicorn

    config = uvicorn.Config(
        build_app(service),
        http="h11",
        loop="asyncio",
        lifespan="on",
        access_log=access_log,
        log_level="info",
        limit_concurrency=max_connections,  # beyond: 503 from uvicorn itself
        timeout_keep_alive=5,
        server_header=False,
    )
    return uvicorn.Server(config)


def run(service: Service, sock: socket.socket, access_log: bool = True, max_connections: int = 200) -> None:
    """Serve until SIGINT / SIGTERM (uvicorn's graceful stop), then close the service."""
    try:
        server(service, access_log, max_connections).run(sockets=[sock])
    finally:
        service.close()
        sock.close()


@dataclass
class Background:
    """A server on a thread of this process (tests, benchmarks)."""

    service: Service
    url: str
    server: Any
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.service.close()


def start_background(service: Service, host: str = "127.0.0.1", port: int = 0) -> Background:
    """``service`` served on a thread, on ``host:port`` (0: a free port); returns once it accepts."""
    sock = bind(host, port)
    srv = server(service, access_log=False)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, name="icarl-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not srv.started:
        raise RuntimeError("the server thread did not start")
    return Background(service, url(sock), srv, thread)
