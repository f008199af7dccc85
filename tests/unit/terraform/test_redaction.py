"""Sensitive values found in `show -json` (which carries them in clear text) and patterns."""

from __future__ import annotations

import json

import pytest

from envctl.terraform.redaction import MASK, Redactor, sensitive_values

PLAN = {
    "variables": {"db_password": {"value": "var-secret-1"}, "region": {"value": "eu-west-1"}},
    "configuration": {"root_module": {"variables": {"db_password": {"sensitive": True}, "region": {}}}},
    "resource_changes": [{
        "address": "terraform_data.x", "change": {
            "actions": ["update"],
            "before": {"input": {"user": "admin", "pw": "old-secret-2"}},
            "after": {"input": {"user": "admin", "pw": "new-secret-3"}, "tags": ["a", "list-secret-4"]},
            "before_sensitive": {"input": {"pw": True}},
            "after_sensitive": {"input": {"pw": True}, "tags": [False, True]},
        }}],  # fmt: skip
    "output_changes": {"token": {"actions": ["create"], "after": {"k": "out-secret-5"}, "after_sensitive": True},
                       "plain": {"actions": ["create"], "after": "visible", "after_sensitive": False}},
    "prior_state": {"values": {"outputs": {"old": {"sensitive": True, "value": "prior-secret-6"}},
                               "root_module": {"resources": [{"values": {"a": "state-secret-7", "b": "shown"},
                                                              "sensitive_values": {"a": True}}]}}},
}


def test_every_value_terraform_marks_sensitive_is_collected() -> None:
    found = sensitive_values(PLAN)
    assert {"var-secret-1", "old-secret-2", "new-secret-3", "list-secret-4", "out-secret-5", "prior-secret-6",
            "state-secret-7"} <= found
    assert not {"admin", "eu-west-1", "visible", "shown"} & found


def test_redactor_masks_values_their_json_spelling_and_patterns() -> None:
    redact = Redactor([r"corp_[A-Za-z0-9]{20}"], ['pa"ss\\word'])
    text = 'x = "corp_abcdefghijklmnopqrst" y = pa"ss\\word z = ' + json.dumps('pa"ss\\word')
    out = redact(text)
    assert "corp_" not in out and "ss\\word" not in out and out.count(MASK) == 3
    assert redact("ghp_" + "a" * 36) == MASK
    assert redact("AKIAABCDEFGHIJKLMNOP") == MASK
    assert redact("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----") == MASK


def test_short_values_are_not_treated_as_secrets() -> None:
    redact = Redactor(values=["1", "yes", "true"])
    assert redact("count = 1, enabled = yes") == "count = 1, enabled = yes"


def test_data_redacts_nested_json_shapes() -> None:
    redact = Redactor(values=["top-secret"])
    assert redact.data({"a": ["top-secret", {"top-secret": 1}], "n": 3}) == {"a": [MASK, {MASK: 1}], "n": 3}


def test_held_secrets_are_masked_in_every_encoding_at_any_offset() -> None:
    import base64
    import urllib.parse

    secret = "tok+9Qz/7Wm=K3p 8Xv&2"
    redactor = Redactor(secrets=[secret])
    for lead in (b"", b"A", b"AB", b"ABC"):
        stream = lead + b"KEY=" + secret.encode() + b"\0NEXT=1"
        for encoded in (base64.b64encode(stream).decode(), base64.urlsafe_b64encode(stream).decode()):
            masked = redactor(encoded)
            assert "***" in masked
            for offset in range(4):  # what is left decodes to no more than a sliver of the secret
                left = masked.split("***")
                assert all(secret.encode()[:6] not in base64.b64decode(part[offset:][: len(part[offset:]) // 4 * 4] + "",
                                                                        altchars=b"-_" if "-" in encoded else None)
                           for part in left if len(part) > offset)
    assert redactor(stream.hex()).count("***") == 1 and redactor(stream.hex().upper()).count("***") == 1
    for quoted in (urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret),
                   urllib.parse.quote(secret, safe="").lower()):
        assert secret not in urllib.parse.unquote_plus(redactor(f"x={quoted}&y=1"))
    assert redactor(f'"env": "KEY={secret}\\u0000"') == '"env": "KEY=***\\u0000"'


def test_log_records_are_redacted_whatever_handler_writes_them(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from envctl.github.secrets import install_log_redaction

    install_log_redaction(["log-secret+/=value"])
    logging.getLogger("envctl.anything").warning("token is %s", "log-secret+/=value")
    try:
        raise RuntimeError("failed with log-secret+/=value")
    except RuntimeError:
        logging.getLogger("envctl.other").exception("boom")
    assert "log-secret+/=value" not in caplog.text and caplog.text.count("***") >= 2
