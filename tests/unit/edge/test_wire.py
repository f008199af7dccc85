"""RFC 6455 framing by hand: what a peer sends is what the edge reads, and what breaks the
protocol closes the hop with the code RFC 6455 names."""

from __future__ import annotations

import pytest

from envctl.edge.wire import (
    CLOSE,
    CONT,
    PING,
    TEXT,
    FrameError,
    FrameReader,
    close_payload,
    encode,
    parse_close,
)


def test_masked_frames_of_every_length_come_back_byte_for_byte() -> None:
    reader = FrameReader(masked=True, max_size=1 << 20)
    for n in (0, 1, 125, 126, 65535, 65536):
        payload = bytes(range(256)) * (n // 256) + bytes(range(n % 256))
        wire = encode(TEXT, payload, mask=True)
        # arriving one byte at a time is the worst split TCP can give
        out = [m for i in range(len(wire)) for m in reader.feed(wire[i:i + 1])] if n < 200 else list(reader.feed(wire))
        assert out == [(TEXT, payload)]


def test_fragments_are_joined_and_control_frames_pass_between_them() -> None:
    reader = FrameReader(masked=False, max_size=1024)
    first = bytes([0x01, 3]) + b'[2,'  # TEXT without FIN
    ping = encode(PING, b"p", mask=False)
    last = bytes([0x80 | CONT, 4]) + b'"a"]'
    assert list(reader.feed(first + ping + last)) == [(PING, b"p"), (TEXT, b'[2,"a"]')]


@pytest.mark.parametrize("masked_reader, frame, code", [
    (True, encode(TEXT, b"x", mask=False), 1002),  # a charger must mask
    (False, encode(TEXT, b"x", mask=True), 1002),  # a backend must not
    (False, bytes([0x80 | CONT, 1]) + b"x", 1002),  # continuation of nothing
    (False, bytes([0xC1, 1]) + b"x", 1002),  # RSV1 without an extension
    (False, encode(TEXT, b"x" * 2000, mask=False), 1009),  # over --max-frame-bytes
])
def test_protocol_errors_carry_rfc_6455_codes(masked_reader: bool, frame: bytes, code: int) -> None:
    reader = FrameReader(masked=masked_reader, max_size=1024)
    with pytest.raises(FrameError) as err:
        list(reader.feed(frame))
    assert err.value.code == code


def test_close_payloads() -> None:
    assert parse_close(close_payload(4001, "bye")) == (4001, "bye")
    assert parse_close(b"") == (None, "")
    assert list(FrameReader(masked=False, max_size=10).feed(encode(CLOSE, close_payload(1000), mask=False))) == \
        [(CLOSE, b"\x03\xe8")]
