"""Serving an ASGI app from the CLI: take the port first, then announce it, then serve.

`uvicorn.run(host, port)` binds only once its event loop starts, so a command that printed its URL
first told the user (or a script reading `-o json`) that it was serving, and then died on a port
someone else held with uvicorn's raw error. Binding here makes "the port is taken" an ordinary
error before anything is announced.
"""

from __future__ import annotations

import socket
from typing import Any

from envctl.errors import ConfigError


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or a ConfigError that says who to ask for another port."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise ConfigError(f"cannot listen on {host}: {err.strerror}", "pass --host an address of this machine") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart may reuse a port in TIME_WAIT
    try:
        sock.bind(address)
        sock.listen(2048)  # from now on connections queue until the app serves them
    except OSError as err:
        sock.close()
        shown = f"[{host}]" if ":" in host else host
        raise ConfigError(
            f"cannot listen on {shown}:{port}: {err.strerror or err}",
            f"choose another --port, or stop whatever is listening on {port}",
        ) from None
    return sock


def serve(app: Any, sock: socket.socket, **uvicorn_options: Any) -> None:
    """Run `app` on the already-listening `sock` until SIGINT/SIGTERM."""
    import uvicorn  # imported here: every other command starts faster without it

    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(app, host=host, port=port, **uvicorn_options)
    uvicorn.Server(config).run(sockets=[sock])
