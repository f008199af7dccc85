from __future__ import annotations

import base64

from envctl.charger.server.auth import BasicAuth, hash_password, parse_basic, verify_password


def test_hash_round_trip_and_format() -> None:
    encoded = hash_password("correct horse", iterations=1000, salt=b"\x01" * 16)
    scheme, iterations, salt, digest = encoded.split("$")
    assert (scheme, iterations, salt) == ("pbkdf2_sha256", "1000", "01" * 16) and len(digest) == 64
    assert verify_password("correct horse", encoded)
    assert not verify_password("wrong horse", encoded)
    assert hash_password("x", iterations=1000) != hash_password("x", iterations=1000)  # random salt


def test_verify_rejects_malformed_hashes() -> None:
    assert not verify_password("x", "md5$1$aa$bb")
    assert not verify_password("x", "pbkdf2_sha256$notanumber$aa$bb")
    assert not verify_password("x", "garbage")


def test_parse_basic() -> None:
    token = base64.b64encode(b"CP1:pa:ss").decode()
    assert parse_basic(f"Basic {token}") == ("CP1", "pa:ss")  # the password may contain ':'
    assert parse_basic(f"basic {token}") == ("CP1", "pa:ss")
    assert parse_basic(None) is None
    assert parse_basic("Bearer abc") is None
    assert parse_basic("Basic !!!notbase64") is None
    assert parse_basic("Basic " + base64.b64encode(b"nocolon").decode()) is None


async def test_basic_auth_caches_only_successes() -> None:
    auth = BasicAuth({"CP1": hash_password("pw", iterations=1000)})
    good = "Basic " + base64.b64encode(b"CP1:pw").decode()
    bad = "Basic " + base64.b64encode(b"CP1:nope").decode()
    assert await auth.check("CP1", good) and await auth.check("CP1", good)
    assert auth.pbkdf2_runs == 1
    assert not await auth.check("CP1", bad) and not await auth.check("CP1", bad)
    assert auth.pbkdf2_runs == 3
    assert not await auth.check("CP2", good)  # the user name must be the charger id in the URL
    assert not await auth.check("CP1", None)
