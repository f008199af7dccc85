"""`envctl server`: run the OCPP 1.6J central system (charger-server) with its admin API."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import typer

from envctl.charger.server.admission import DEFAULT_MAX_ACCEPT_RATE
from envctl.cli.output import OutputFormat, OutputOption, user_errors
from envctl.errors import ConfigError


def command(
    host: str = typer.Option("127.0.0.1", help="OCPP listen address"),
    port: int = typer.Option(9000, min=0, max=65535, help="OCPP port (0 = ephemeral)"),
    admin_host: str = typer.Option("127.0.0.1", help="admin HTTP listen address"),
    admin_port: int = typer.Option(0, min=0, max=65535, help="admin HTTP port (0 = ephemeral)"),
    reuse_port: bool = typer.Option(False, "--reuse-port", help="SO_REUSEPORT: several replicas share the OCPP port"),
    database_url: str = typer.Option("sqlite:///envctl-charger.db", help="sqlite:///PATH or postgresql://..."),
    server_version: str = typer.Option("dev", "--server-version", help="version label reported in stats"),
    replica_id: str = typer.Option("", help="replica id reported in stats (default host-pid)"),
    allowlist: Path | None = typer.Option(None, help="file of known charger ids, one per line; others get 404"),
    basic_auth_file: Path | None = typer.Option(None, help='JSON {"id": "pbkdf2_sha256$iters$salt$hash"}'),
    tls_cert: Path | None = typer.Option(None, help="PEM certificate: serve wss://"),
    tls_key: Path | None = typer.Option(None, help="PEM private key for --tls-cert"),
    heartbeat_interval: int = typer.Option(300, help="interval (s) sent in BootNotification answers"),
    boot_status: str = typer.Option("Accepted", help="Accepted|Pending|Rejected"),
    call_timeout: float = typer.Option(30.0, help="seconds to wait for a charger's answer to our CALL"),
    max_frame_bytes: int = typer.Option(65536, help="larger frames close the connection with 1009"),
    id_tags: Path | None = typer.Option(None, help="file of accepted idTags, one per line (default: accept all)"),
    ready_file: Path | None = typer.Option(None, help="also write the ready JSON line here (atomically)"),
    advertise_admin_url: str = typer.Option(
        "", help="where the other replicas reach this admin API (default http://ADMIN_HOST:ADMIN_PORT)"
    ),
    max_accept_rate: float = typer.Option(
        DEFAULT_MAX_ACCEPT_RATE, help="new WebSocket handshakes per second on this replica; above it 503 + "
        "Retry-After (0 = no limit; the default is sized from the measured connect capacity)",
    ),
    max_pending_handshakes: int = typer.Option(
        0, help="connections whose WebSocket handshake has not finished, on this replica; above it they are "
        "closed at once (0 = a quarter of the descriptor limit)",
    ),
    max_pending_handshakes_per_source: int = typer.Option(
        0, help="the same, from one source address (IPv6: one /64) (0 = a quarter of the replica's cap, at most 1024)",
    ),
    log_level: str = typer.Option("WARNING", help="Python log level for stderr"),
    output: OutputFormat = OutputOption,
) -> None:
    """Run the OCPP 1.6J central system; print one JSON ready line when listening. SIGTERM stops gracefully.

    The mutating admin endpoints require the bearer token in ENVCTL_ADMIN_TOKEN when it is set.
    """
    from envctl.charger.server.config import ServerConfig, read_basic_auth, read_id_list

    logging.basicConfig(level=log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with user_errors(output):
        config = ServerConfig(
            host=host,
            port=port,
            admin_host=admin_host,
            admin_port=admin_port,
            reuse_port=reuse_port,
            database_url=database_url,
            version=server_version,
            allowlist=read_id_list(allowlist, "--allowlist") if allowlist else None,
            basic_auth=read_basic_auth(basic_auth_file) if basic_auth_file else None,
            tls_cert=tls_cert,
            tls_key=tls_key,
            heartbeat_interval=heartbeat_interval,
            boot_status=boot_status,
            call_timeout=call_timeout,
            max_frame_bytes=max_frame_bytes,
            id_tags=read_id_list(id_tags, "--id-tags") if id_tags else None,
            ready_file=ready_file,
            admin_token=os.environ.get("ENVCTL_ADMIN_TOKEN") or None,
            advertise_admin_url=advertise_admin_url or None,
            max_accept_rate=max_accept_rate,
            max_pending_handshakes=max_pending_handshakes,
            max_pending_handshakes_per_source=max_pending_handshakes_per_source,
        )
        if replica_id:
            config.replica_id = replica_id
        config.check()
        _run(config)


def _run(config: object) -> None:
    import uvloop

    from envctl.charger.gctuning import freeze_startup_objects, tune_gc
    from envctl.charger.server.app import CentralSystem

    # The SQLite writer thread needs the GIL back after each statement; with the default 5 ms
    # switch interval a busy event loop makes every commit wait that long several times.
    sys.setswitchinterval(0.001)
    tune_gc()

    async def main() -> None:
        cs = CentralSystem(config)  # type: ignore[arg-type]
        try:
            await cs.start()
        except OSError as exc:
            raise ConfigError(f"cannot listen: {exc.strerror or exc}", hint="pick another --port/--admin-port") from None
        freeze_startup_objects()
        cs.announce_ready(sys.stdout)
        await cs.run_until_signal()

    uvloop.run(main())
