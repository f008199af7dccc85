"""What the charger's handshake carries to the backend (path, subprotocol, client certificate
subject), and several edge processes sharing one port with the budget split between them."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.integration.edge.chargers import BOOT, charger

pytestmark = [pytest.mark.timeout(120), pytest.mark.parametrize("backend_kind", ["ocpp"])]


async def test_the_subprotocol_the_backend_chose_is_the_chargers_and_survives_a_move(
    start_backend: Any, start_edge: Any
) -> None:
    a, b = start_backend("a"), start_backend("b")
    edge = start_edge(a, b)
    path = "/ocpp/CP201?site=7"
    async with charger(f"ws://127.0.0.1:{edge.port}{path}", "CP201", subprotocols=["ocpp2.1", "ocpp2.0.1"]) as c:
        assert c.ws.subprotocol == "ocpp2.0.1"
        r = edge.admin("POST", "/admin/move", json={"count": 1, "from": ["a"], "to": ["b"]})
        assert r.status_code == 202
        await edge.wait_for(lambda s: s["moves"]["moved"] == 1, what="the move")
        await c.send([2, "m1", "Heartbeat", {}])  # the backend answers per 1.6 schemas; the edge does not care
        for _ in range(100):
            if b.received("CP201"):
                break
            await asyncio.sleep(0.05)
        assert c.closed is None
    assert a.entries("CP201", "connected") == ["ocpp2.0.1"]
    assert b.entries("CP201", "connected") == ["ocpp2.0.1"], "the move did not keep the agreed subprotocol"
    assert b.entries("CP201", "path") == [path], "the move did not keep the charger's path"


async def test_wss_backends_are_verified_against_the_backend_ca(tmp_path: Path, start_edge: Any,
                                                               backend_kind: str) -> None:
    from websockets.exceptions import InvalidStatus

    from tests.integration.charger.conftest import ServerProcess

    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "backend CA")])
    ca_crt, _, ca_key = _cert(tmp_path, "bca", ca_name, None, ca=True)
    crt, key, _ = _cert(tmp_path, "backend", x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]),
                        (ca_name, ca_key), server=True)
    sp = ServerProcess.start(tmp_path, "--tls-cert", str(crt), "--tls-key", str(key))
    try:
        secure = f"tls=wss://127.0.0.1:{sp.ocpp_port}"
        edge = start_edge(args=("--backend", secure, "--backend-ca", str(ca_crt)))
        async with charger(edge.url("CP1"), "CP1") as c:
            assert (await c.call("BootNotification", BOOT))[0] == 3
        unverified = start_edge(args=("--backend", secure))  # the system's CAs do not know ours
        with pytest.raises(InvalidStatus) as refused:
            async with charger(unverified.url("CP2"), "CP2"):
                pass
        assert refused.value.response.status_code == 502
    finally:
        sp.kill()


def _cert(tmp: Path, name: str, subject: x509.Name, issuer: tuple[x509.Name, Any] | None, ca: bool = False,
          server: bool = False) -> tuple[Path, Path, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).public_key(key.public_key())
               .issuer_name(issuer[0] if issuer else subject).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    cert_path, key_path = tmp / f"{name}.crt", tmp / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path, key


async def test_wss_with_a_client_certificate_carries_its_subject_to_the_backend(
    tmp_path: Path, start_backend: Any, start_edge: Any
) -> None:
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca_crt, _, ca_key = _cert(tmp_path, "ca", ca_name, None, ca=True)
    issuer = (ca_name, ca_key)
    srv_crt, srv_key, _ = _cert(tmp_path, "edge", x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]),
                                issuer, server=True)
    cp_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme Chargers"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "CP9")])
    cp_crt, cp_key, _ = _cert(tmp_path, "cp9", cp_name, issuer)
    a = start_backend("a")
    edge = start_edge(a, args=("--tls-cert", str(srv_crt), "--tls-key", str(srv_key), "--tls-client-ca", str(ca_crt)))
    client = ssl.create_default_context(cafile=str(ca_crt))
    client.load_cert_chain(str(cp_crt), str(cp_key))
    async with charger(f"wss://127.0.0.1:{edge.port}/ocpp/CP9", "CP9", ssl=client) as c:
        assert (await c.call("BootNotification", BOOT))[0] == 3
    assert a.entries("CP9", "subject") == ["CN=CP9,O=Acme Chargers"]
    plain = ssl.create_default_context(cafile=str(ca_crt))  # profile 2: TLS without a client certificate
    async with charger(f"wss://127.0.0.1:{edge.port}/ocpp/CP10", "CP10", ssl=plain) as c:
        assert (await c.call("Heartbeat", {}))[0] == 3
    assert a.entries("CP10", "subject") == [None]


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_two_edge_processes_share_one_port_and_split_the_budget(start_backend: Any, start_edge: Any) -> None:
    a = start_backend("a")
    port = _free_port()
    args = ("--reuse-port", "--budget", "40", "--processes", "2")
    edges = [start_edge(a, args=args, port=port), start_edge(a, args=args, port=port)]
    async with contextlib.AsyncExitStack() as stack:
        for i in range(24):
            c = await stack.enter_async_context(charger(f"ws://127.0.0.1:{port}/ocpp/CP{i}", f"CP{i}"))
            assert (await c.call("Heartbeat", {}))[0] == 3
        counts = [e.stats()["connections"] for e in edges]
        assert sum(counts) == 24 and all(counts), f"the kernel should spread chargers over both: {counts}"
        for e in edges:
            assert "envctl_edge_move_budget_per_s 20.0" in e.admin("GET", "/metrics").text
