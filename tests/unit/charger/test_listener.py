from __future__ import annotations

import socket

from websockets.datastructures import Headers

from envctl.charger.server.listener import charger_id_from_path, listening_socket, offered_subprotocols


def test_charger_id_from_path() -> None:
    assert charger_id_from_path("/ocpp/CP1") == "CP1"
    assert charger_id_from_path("/ocpp/CP%7C1?x=1") == "CP|1"
    for bad in ("CP%201", "CP%0A1", "CP%001", "CP%FF", "CP%C3%A9", "x" * 49):
        assert charger_id_from_path("/ocpp/" + bad) is None, bad
    assert charger_id_from_path("/ocpp/" + "x" * 48) == "x" * 48
    assert charger_id_from_path("/ocpp/") is None
    assert charger_id_from_path("/ocpp/a/b") is None
    assert charger_id_from_path("/other/CP1") is None
    assert charger_id_from_path("/ocpp/" + "x" * 65) is None


def test_offered_subprotocols_reads_every_header_and_list() -> None:
    h = Headers()
    h["Sec-WebSocket-Protocol"] = "ocpp2.0.1, ocpp1.6"
    h["Sec-WebSocket-Protocol"] = "other"
    assert offered_subprotocols(h) == ["ocpp2.0.1", "ocpp1.6", "other"]
    assert offered_subprotocols(Headers()) == []


def test_reuse_port_sockets_can_share_a_port() -> None:
    a = listening_socket("127.0.0.1", 0, reuse_port=True)
    port = a.getsockname()[1]
    b = listening_socket("127.0.0.1", port, reuse_port=True)
    try:
        assert b.getsockname()[1] == port
        assert a.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
    finally:
        a.close()
        b.close()
