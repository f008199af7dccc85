"""Security profiles 1 and 2: HTTP Basic auth per charger, and the same over TLS (wss://)."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.exceptions import InvalidStatus

from envctl.charger.server.auth import hash_password
from tests.integration.charger.conftest import boot, charger, ocpp_call, running_server

pytestmark = pytest.mark.timeout(30)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


CREDS = {"CP1": hash_password("s3cret-password-1", iterations=20_000)}


async def test_basic_auth_accepts_the_right_password_and_refuses_others(tmp_path: Path) -> None:
    async with running_server(tmp_path, basic_auth=CREDS) as cs:
        async with charger(cs.ocpp_url("CP1"), additional_headers=basic("CP1", "s3cret-password-1")) as ws:
            await boot(ws)
        for headers in (basic("CP1", "wrong"), basic("CP2", "s3cret-password-1"), {}):
            with pytest.raises(InvalidStatus) as err:
                async with charger(cs.ocpp_url("CP1"), additional_headers=headers):
                    pass
            assert err.value.response.status_code == 401
            assert err.value.response.headers["WWW-Authenticate"].startswith("Basic")
        with pytest.raises(InvalidStatus) as err:  # a charger with no credentials on file
            async with charger(cs.ocpp_url("CP9"), additional_headers=basic("CP9", "anything")):
                pass
        assert err.value.response.status_code == 401


async def test_reconnects_reuse_the_verified_credentials_instead_of_pbkdf2(tmp_path: Path) -> None:
    async with running_server(tmp_path, basic_auth=CREDS) as cs:
        auth = cs.listener.auth
        assert auth is not None
        for _ in range(5):
            async with charger(cs.ocpp_url("CP1"), additional_headers=basic("CP1", "s3cret-password-1")) as ws:
                await ocpp_call(ws, "Heartbeat", {})
        assert auth.pbkdf2_runs == 1
        for _ in range(2):  # a wrong password is never cached as good and always pays full price
            with pytest.raises(InvalidStatus):
                async with charger(cs.ocpp_url("CP1"), additional_headers=basic("CP1", "nope")):
                    pass
        assert auth.pbkdf2_runs == 3


async def test_tls_with_basic_auth(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    async with running_server(tmp_path, basic_auth=CREDS, tls_cert=cert, tls_key=key) as cs:
        url = cs.ocpp_url("CP1")
        assert url.startswith("wss://")
        async with charger(url, ssl=client_ctx, additional_headers=basic("CP1", "s3cret-password-1")) as ws:
            assert (await boot(ws))["status"] == "Accepted"
        with pytest.raises(ssl.SSLError):  # a client that does not trust the certificate
            async with charger(url, ssl=ssl.create_default_context(),
                               additional_headers=basic("CP1", "s3cret-password-1")):
                pass
        with pytest.raises(InvalidStatus):
            async with charger(url, ssl=client_ctx, additional_headers=basic("CP1", "bad")):
                pass
