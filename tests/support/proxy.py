"""A TCP proxy in front of the running service that can cut connections, like a flaky network."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType
from urllib.parse import urlsplit


class Proxy:
    """Forwards 127.0.0.1:<port> to an upstream address; `drop()` and `swallow()` misbehave."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self._open: list[socket.socket] = []
        self._swallow = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def drop(self) -> None:
        """Cut every open connection mid-flight."""
        with self._lock:
            sockets, self._open = self._open, []
        _close(*sockets)

    def swallow(self, count: int = 1) -> None:
        """The next `count` connections deliver requests upstream but cut off the responses."""
        with self._lock:
            self._swallow += count

    def close(self) -> None:
        self.listener.close()
        self.drop()

    def __enter__(self) -> Proxy:
        return self

    def __exit__(
        self, kind: type | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            with self._lock:
                self.connections += 1
                self._open += [client, upstream]
                swallow = self._swallow > 0
                self._swallow -= swallow
            threading.Thread(target=_pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=_pump, args=(upstream, client, swallow), daemon=True).start()


def proxy_for(url: str) -> Proxy:
    """A proxy in front of the service at an http:// URL."""
    address = urlsplit(url)
    return Proxy((address.hostname or "127.0.0.1", address.port or 80))


def _pump(source: socket.socket, target: socket.socket, swallow: bool) -> None:
    """Copy bytes one way until either side closes; when swallowing, cut at the first byte."""
    try:
        while data := source.recv(65536):
            if swallow:
                break
            target.sendall(data)
    except OSError:
        pass
    _close(source, target)


def _close(*sockets: socket.socket) -> None:
    for s in sockets:
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        s.close()
