"""A small client for the API server (stdlib only: the scripts run before envctl is installed)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path

from cluster.common import Error


class Api:
    def __init__(self, run: Path, server: str):
        pki = run / "pki"
        self.base = server
        self.ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))

    def request(self, method, path, body=None, timeout=10, content_type="application/json"):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=timeout) as r:
                raw = r.read()
                return r.status, raw
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def json(self, method, path, body=None):
        code, raw = self.request(method, path, body)
        try:
            return code, json.loads(raw)
        except ValueError:
            return code, {"raw": raw.decode(errors="replace")}

    def ok(self, path) -> bool:
        try:
            code, raw = self.request("GET", path, timeout=5)
            return code == 200 and raw.strip() == b"ok"
        except (OSError, ssl.SSLError):
            return False


# --------------------------------------------------------------------------
# start / stop / status
# --------------------------------------------------------------------------

    def create(self, collection: str, obj: dict) -> dict:
        """POST obj, treating "already exists" as done (start is idempotent)."""
        code, resp = self.json("POST", collection, obj)
        if code not in (200, 201, 409):
            raise Error(f"creating {obj.get('kind')} {obj['metadata']['name']} failed: {code} {resp}")
        return resp
