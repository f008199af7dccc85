"""The scan that finds an OCPP-J frame's type and id: it must agree with json on every frame."""

from __future__ import annotations

import json

import pytest

from envctl.edge.framing import CALL, CALLERROR, CALLRESULT, UNKNOWN, scan


@pytest.mark.parametrize("frame, expected", [
    (b'[2,"19223201","BootNotification",{"chargePointVendor":"VendorX"}]', (CALL, "19223201")),
    (b'[3, "19223201", {"status": "Accepted"}]', (CALLRESULT, "19223201")),
    (b' [ 4 ,\n"a-b",  "NotImplemented", "", {}]', (CALLERROR, "a-b")),
    (b'[2,"quote\\"d","Heartbeat",{}]', (CALL, 'quote"d')),
    (b'[2,"\xc3\xa9t\xc3\xa9","Heartbeat",{}]', (CALL, "été")),
    (b'{"not": "an array"}', (UNKNOWN, None)),
    (b'[22,"x"]', (UNKNOWN, None)),
    (b'[2, 17, "Heartbeat", {}]', (UNKNOWN, None)),
    (b'[2,"unterminated', (UNKNOWN, None)),
    (b'', (UNKNOWN, None)),
])
def test_scan_reads_type_and_id(frame: bytes, expected: tuple[int, str | None]) -> None:
    assert scan(frame) == expected
    if expected[0] != UNKNOWN:
        parsed = json.loads(frame)
        assert (parsed[0], parsed[1]) == expected
