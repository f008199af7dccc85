"""A central system that is not envctl's, written on the `ocpp` package (mobilityhouse), for tests.

Run as a process: `python ocpp_backend.py --port 0 --log FILE [--password P]`; prints one JSON
ready line {"port", "pid"}. It logs every frame it receives, one JSON line per frame
({"cid", "frame"}), so tests can check that each charger frame reached it exactly once, in order.

Test actions (OCPP 1.6 DataTransfer, vendorId "test"):
    data "slow:S"     answer after S seconds (a CALL outstanding towards the backend)
    data "call-me:N"  answer, then send the charger a DataTransfer CALL with data "backend-N"
                      and log its answer
    data "close:CODE" answer, then close the charger's connection with CODE
Never shipped: it lives in tests/.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import sys
from datetime import UTC, datetime
from http import HTTPStatus

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action, DataTransferStatus, RegistrationStatus
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

LOG = None
PASSWORD: str | None = None


def log(entry: dict) -> None:
    assert LOG is not None
    LOG.write(json.dumps(entry) + "\n")
    LOG.flush()


def now() -> str:
    return datetime.now(UTC).isoformat()


class CentralSystemSide(ChargePoint):
    async def route_message(self, raw_msg):  # type: ignore[no-untyped-def]
        log({"cid": self.id, "frame": raw_msg})
        return await super().route_message(raw_msg)

    @on(Action.boot_notification)
    def on_boot(self, charge_point_vendor, charge_point_model, **kwargs):  # type: ignore[no-untyped-def]
        return call_result.BootNotification(current_time=now(), interval=300, status=RegistrationStatus.accepted)

    @on(Action.heartbeat)
    def on_heartbeat(self):  # type: ignore[no-untyped-def]
        return call_result.Heartbeat(current_time=now())

    @on(Action.status_notification)
    def on_status(self, **kwargs):  # type: ignore[no-untyped-def]
        return call_result.StatusNotification()

    @on(Action.meter_values)
    def on_meter_values(self, **kwargs):  # type: ignore[no-untyped-def]
        return call_result.MeterValues()

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id, data=None, **kwargs):  # type: ignore[no-untyped-def]
        if data and data.startswith("slow:"):
            await asyncio.sleep(float(data.split(":", 1)[1]))
        return call_result.DataTransfer(status=DataTransferStatus.accepted, data=data)

    @after(Action.data_transfer)
    def after_data_transfer(self, vendor_id, data=None, **kwargs):  # type: ignore[no-untyped-def]
        if data and data.startswith("call-me:"):
            asyncio.ensure_future(self._call_back(data.split(":", 1)[1]))
        if data and data.startswith("close:"):
            asyncio.ensure_future(self._connection.close(int(data.split(":", 1)[1]), "closed by the backend"))

    async def _call_back(self, n: str) -> None:
        answer = await self.call(call.DataTransfer(vendor_id="test", data=f"backend-{n}"))
        log({"cid": self.id, "answer": getattr(answer, "data", None)})


def check(conn: ServerConnection, request: Request) -> Response | None:
    if PASSWORD is None:
        return None
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    try:
        password = base64.b64decode(token).decode().partition(":")[2] if scheme.lower() == "basic" else None
    except ValueError:
        password = None
    if password != PASSWORD:
        response = conn.respond(HTTPStatus.UNAUTHORIZED, "wrong credentials (ocpp backend)\n")
        response.headers["WWW-Authenticate"] = 'Basic realm="ocpp-test"'
        return response
    return None


async def handler(ws: ServerConnection) -> None:
    cid = ws.request.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]  # type: ignore[union-attr]
    log({"cid": cid, "connected": ws.subprotocol, "path": ws.request.path,  # type: ignore[union-attr]
         "subject": ws.request.headers.get("X-Client-Cert-Subject")})  # type: ignore[union-attr]
    cp = CentralSystemSide(cid, ws)
    with contextlib.suppress(ConnectionClosed):  # the charger (or the edge) went: the end of this one
        await cp.start()
    log({"cid": cid, "disconnected": True})


async def main() -> None:
    global LOG, PASSWORD
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--log", required=True)
    p.add_argument("--password", default=None)
    a = p.parse_args()
    LOG = open(a.log, "a", encoding="utf-8")  # noqa: ASYNC230,SIM115 - held for the process' life
    PASSWORD = a.password
    server = await serve(handler, "127.0.0.1", a.port, subprotocols=["ocpp1.6", "ocpp2.0.1"],  # type: ignore[list-item]
                         process_request=check, compression=None)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(json.dumps({"port": port, "pid": os.getpid()}) + "\n")
    sys.stdout.flush()
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
