"""What the charger's handshake carries to the backend (path, subprotocol, client certificate
subject), and several edge processes sharing one port with the budget split between them."""

from __future__ import annotations

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


async def test_the_subprotocol_the_backend_chose_is_the_chargers(start_backend: Any, start_edge: Any) -> None:
    a = start_backend("a")
    edge = start_edge(a)
    async with charger(edge.url("CP201"), "CP201", subprotocols=["ocpp2.1", "ocpp2.0.1"]) as c:
        assert c.ws.subprotocol == "ocpp2.0.1"
    assert a.entries("CP201", "connected") == ["ocpp2.0.1"]


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
