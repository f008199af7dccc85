"""A GitHub App installation works: JWT -> installation token, refreshed before it expires."""

from __future__ import annotations

import time
from datetime import timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from envctl.github.settings import GitHubSettings
from tests.fakes import payloads
from tests.fakes.github_api import FakeGitHub
from tests.integration.github.conftest import REPO


def app_key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def test_app_installation_token_is_fetched_and_refreshed(
    settings: GitHubSettings, server_factory: object, fake_github: FakeGitHub
) -> None:
    private, public = app_key()
    # PyGithub refreshes 20 s before expiry: a 21 s token counts as expired after about 1 s
    fake_github.enable_app("4242", public, token_lifetime=timedelta(seconds=21))
    settings.token = None
    settings.app_id, settings.app_private_key = "4242", private
    webhook = server_factory(settings)  # type: ignore[operator]
    fake_github.add_pull(REPO, 3, "a" * 40)

    def ask(comment_id: int) -> None:
        body = payloads.comment("/help", number=3, comment_id=comment_id, repo=REPO, installation=77)
        assert webhook.send("issue_comment", body).status_code == 202
        webhook.wait_idle()

    ask(1)
    ask(2)  # within the token's life: no new token
    time.sleep(1.2)
    ask(3)  # the token is about to expire: a fresh one first

    exchanges = fake_github.recorded("POST", "/app/installations/77/access_tokens")
    assert [e.status for e in exchanges] == [201, 201]
    claims = jwt.decode(exchanges[0].headers["authorization"].split()[1], public, algorithms=["RS256"])
    assert claims["iss"] == "4242" and claims["exp"] - claims["iat"] <= 600
    posts = fake_github.recorded("POST", rf"/repos/{REPO}/issues/3/comments")
    assert [p.status for p in posts] == [201, 201, 201]
    tokens = [p.headers["authorization"] for p in posts]
    assert tokens[0] == tokens[1] != tokens[2] and tokens[0].startswith("token ghs_fake")
