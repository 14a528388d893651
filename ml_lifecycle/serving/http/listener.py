"""A bound socket served by uvicorn (httptools + uvloop) with the request limits of `limits.py`.

`bind` makes the listening socket; a `Listener` runs one uvicorn server on it on a background
thread (`start`); `stop` stops accepting and drains. The process's own signal handling decides
when (`workers.py`). Several worker processes may each run a Listener on the same socket: the
kernel spreads the connections.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import uvicorn

from ml_lifecycle.config.serving import ServingConfig
from ml_lifecycle.serving.http.limits import guarded_protocol

log = logging.getLogger(__name__)

# Pending connections the kernel queues before accept: a load test reconnecting 32 clients at
# once overflows small backlogs.
BACKLOG = 2048


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: any free port), inheritable by workers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise OSError(error.errno, f"cannot listen on {host}:{port}: {error.strerror}") from error
    sock.listen(BACKLOG)
    sock.set_inheritable(True)
    return sock


def socket_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Listener:
    """One uvicorn server over `app` on an already bound socket."""

    def __init__(self, app, sock: socket.socket, config: ServingConfig, name: str = "http") -> None:
        self.sock = sock
        self.name = name
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                http=guarded_protocol(
                    config.max_connections, config.header_timeout_seconds, config.max_header_bytes
                ),
                loop="uvloop",
                lifespan="off",
                access_log=False,
                log_config=None,
                server_header=False,
                timeout_keep_alive=int(max(1, round(config.idle_timeout_seconds))),
                timeout_graceful_shutdown=int(max(1, round(config.drain_seconds))),
                backlog=BACKLOG,
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return socket_url(self.sock)

    def run(self) -> None:
        """Serves on this thread until `stop()`, then drains."""
        self.server.run(sockets=[self.sock])

    def start(self, timeout_s: float = 30.0) -> Listener:
        """Serves on a background thread; returns once it accepts connections."""
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} listener on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float | None = None) -> None:
        """Stops accepting, lets in-flight requests finish (at most drain_seconds), returns."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.sock.close()
