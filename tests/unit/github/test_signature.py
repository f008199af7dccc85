from __future__ import annotations

import hashlib
import hmac

import pytest

from envctl.github.signature import sign, verify

SECRET = "It's a Secret to Everybody"
BODY = b"Hello, World!"


def test_githubs_documented_example() -> None:
    # docs.github.com "Validating webhook deliveries" test values
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign(SECRET, BODY) == expected
    assert verify(SECRET, BODY, expected)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha1=" + hmac.new(SECRET.encode(), BODY, hashlib.sha1).hexdigest(),
        sign("wrong secret", BODY),
        sign(SECRET, BODY + b" "),
        sign(SECRET, BODY).upper(),
        "sha256=ü" + "0" * 63,
    ],
)
def test_anything_else_is_rejected(header: str | None) -> None:
    assert not verify(SECRET, BODY, header)


def test_no_secret_never_verifies() -> None:
    assert not verify("", BODY, sign("", BODY))
