"""The cluster's PKI: a CA, serving and client certificates, the service-account key pair."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
from pathlib import Path

from cluster.common import FIRST_SERVICE_IP


def _write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def make_pki(pki: Path, apiserver_ips: tuple[str, ...] = (),
             clients: tuple[tuple[str, str, str | None], ...] = (),
             servers: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = ()) -> None:
    """CA, apiserver serving cert, client certs, service-account key pair.

    ``clients`` are extra (stem, CN, O) client certificates and ``servers`` extra (stem, CN, IPs,
    DNS names) serving certificates, both signed by the cluster CA (the real node's identities)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    pki.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    until = now + datetime.timedelta(days=365)

    def key_pem(key) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    def name(cn, org=None):
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
        if org:
            attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
        return x509.Name(attrs)

    def make_ca(stem, cn):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = name(cn)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(until)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256())
        )
        (pki / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_private(pki / f"{stem}.key", key_pem(key))
        return key, subject

    def issue(stem, cn, org=None, server=False, sans=(), ca=None):
        ca_key, ca_name = ca or main_ca
        key = ec.generate_private_key(ec.SECP256R1())
        b = (
            x509.CertificateBuilder()
            .subject_name(name(cn, org)).issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(until)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_encipherment=True, content_commitment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH] if server else [ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
        )
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
        cert = b.sign(ca_key, hashes.SHA256())
        (pki / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_private(pki / f"{stem}.key", key_pem(key))

    main_ca = make_ca("ca", "envctl-control-plane-ca")
    # Separate CA for the aggregation layer's request-header authentication.
    front_proxy_ca = make_ca("front-proxy-ca", "envctl-front-proxy-ca")
    issue("front-proxy-client", "front-proxy-client", ca=front_proxy_ca)

    ip = lambda a: x509.IPAddress(ipaddress.ip_address(a))  # noqa: E731
    dns = x509.DNSName
    issue("apiserver", "kube-apiserver", server=True, sans=[
        dns("localhost"), dns("kubernetes"), dns("kubernetes.default"),
        dns("kubernetes.default.svc"), dns("kubernetes.default.svc.cluster.local"),
        ip("127.0.0.1"), ip("::1"), ip(FIRST_SERVICE_IP), *(ip(a) for a in apiserver_ips)])
    issue("admin", "envctl-admin", org="system:masters")
    issue("controller-manager", "system:kube-controller-manager")
    issue("scheduler", "system:kube-scheduler")
    issue("kwok", "envctl-kwok", org="system:masters")
    for stem, cn, org in clients:
        issue(stem, cn, org=org)
    for stem, cn, ips, names in servers:
        issue(stem, cn, server=True, sans=[*(ip(a) for a in ips), *(dns(n) for n in names)])

    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_private(pki / "sa.key", sa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()))
    (pki / "sa.pub").write_bytes(sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def write_kubeconfig(path: Path, server: str, pki: Path, user: str, stem: str) -> None:

    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "envctl", "cluster": {
            "server": server, "certificate-authority-data": b64(pki / "ca.crt")}}],
        "users": [{"name": user, "user": {
            "client-certificate-data": b64(pki / f"{stem}.crt"),
            "client-key-data": b64(pki / f"{stem}.key")}}],
        "contexts": [{"name": "envctl", "context": {"cluster": "envctl", "user": user}}],
        "current-context": "envctl",
    }
    # JSON is valid YAML, so every client reads it.
    path.write_text(json.dumps(cfg, indent=2) + "\n")
    path.chmod(0o600)


