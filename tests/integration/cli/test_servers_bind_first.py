"""`dashboard` and `webhook serve` on a taken port: one clear error, and no URL or success document first."""

from __future__ import annotations

import json
import socket

from tests.integration.envs.conftest import Cli


def test_a_taken_port_is_an_error_before_anything_is_announced(cli: Cli) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        cli.env["ENVCTL_WEBHOOK_SECRET"] = "not-a-real-secret"
        for args in (("dashboard", "--port", port), ("webhook", "serve", "--port", port)):
            done = cli.run(*args, "--output", "json", check=False, timeout=60)
            assert done.returncode == 2, (args, done.stdout, done.stderr)
            assert done.stdout == "", done.stdout  # no URL, no success document
            err = json.loads(done.stderr)  # and nothing but the error (no uvicorn log, no traceback)
            assert err["message"] == f"cannot listen on 127.0.0.1:{port}: Address already in use", err
            assert "--port" in err["hint"]
            text = cli.run(*args, check=False, timeout=60)
            assert text.returncode == 2 and "http://" not in text.stderr + text.stdout, text.stderr
