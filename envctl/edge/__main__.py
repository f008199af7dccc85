"""`python -m envctl.edge`: run one edge process; prints one JSON ready line on stdout.

    python -m envctl.edge --port 9000 --reuse-port --backend b1=ws://127.0.0.1:9001@v1 \
        --backend b2=ws://127.0.0.1:9002@v2 --budget 200 --processes 2

The admin token comes from ENVCTL_ADMIN_TOKEN (as the server's). SIGTERM/SIGINT: close chargers
with 1001 and stop.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import orjson

from envctl.edge.backends import parse_backend
from envctl.edge.config import EdgeConfig
from envctl.errors import ConfigError


def parse_args(argv: list[str] | None = None) -> EdgeConfig:
    p = argparse.ArgumentParser(prog="python -m envctl.edge", description="The charger edge: one process.")
    p.add_argument("--host", default="127.0.0.1", help="charger-facing listen address")
    p.add_argument("--port", type=int, default=9000, help="charger-facing port (0 = ephemeral)")
    p.add_argument("--admin-host", default="127.0.0.1")
    p.add_argument("--admin-port", type=int, default=0, help="admin HTTP port (0 = ephemeral)")
    p.add_argument("--reuse-port", action="store_true", help="SO_REUSEPORT: several edge processes share the port")
    p.add_argument("--edge-id", default=None, help="id reported in stats (default edge-HOST-PID)")
    p.add_argument("--backend", action="append", default=[], metavar="ID=ws://HOST:PORT[@VERSION]",
                   help="a backend (repeat the flag for several)")
    p.add_argument("--budget", type=float, default=100.0, help="moves per second, fleet-wide")
    p.add_argument("--processes", type=int, default=1, help="edge processes sharing the budget")
    p.add_argument("--open-timeout", type=float, default=5.0, help="seconds for a backend's handshake")
    p.add_argument("--idle-timeout", type=float, default=30.0, help="seconds a move waits for no CALL outstanding")
    p.add_argument("--call-timeout", type=float, default=30.0, help="a CALL unanswered this long counts as timed out")
    p.add_argument("--max-frame-bytes", type=int, default=65536)
    p.add_argument("--tls-cert", type=Path, default=None, help="PEM certificate: serve wss://")
    p.add_argument("--tls-key", type=Path, default=None)
    p.add_argument("--tls-client-ca", type=Path, default=None, help="ask chargers for client certificates from this CA")
    p.add_argument("--backend-ca", type=Path, default=None, help="verify wss:// backends against this CA")
    p.add_argument("--log-level", default="WARNING")
    a = p.parse_args(argv)
    logging.basicConfig(level=a.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    config = EdgeConfig(
        host=a.host, port=a.port, admin_host=a.admin_host, admin_port=a.admin_port, reuse_port=a.reuse_port,
        backends=[parse_backend(spec) for spec in a.backend], budget_per_s=a.budget, processes=a.processes,
        open_timeout=a.open_timeout, idle_timeout=a.idle_timeout, call_timeout=a.call_timeout,
        max_frame_bytes=a.max_frame_bytes, tls_cert=a.tls_cert,
        tls_key=a.tls_key, tls_client_ca=a.tls_client_ca, backend_ca=a.backend_ca,
        admin_token=os.environ.get("ENVCTL_ADMIN_TOKEN") or None,
    )
    if a.edge_id:
        config.edge_id = a.edge_id
    config.check()
    return config


async def serve(config: EdgeConfig) -> None:
    from envctl.edge.app import Edge

    edge = Edge(config)
    try:
        await edge.start()
    except OSError as exc:
        raise ConfigError(f"cannot listen: {exc.strerror or exc}", hint="pick another --port/--admin-port") from None
    sys.stdout.write(orjson.dumps(edge.ready_info()).decode() + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await edge.stop()


def main(argv: list[str] | None = None) -> int:
    import uvloop

    from envctl.charger.gctuning import tune_gc

    try:
        config = parse_args(argv)
        tune_gc()
        uvloop.run(serve(config))
    except ConfigError as exc:
        sys.stderr.write(f"error: {exc.message}\n" + (f"hint: {exc.hint}\n" if exc.hint else ""))
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
