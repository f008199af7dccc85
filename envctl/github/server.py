"""The webhook HTTP server: `POST /webhooks/github`, answered within GitHub's 10 s.

Order matters: size limit -> signature over the raw bytes -> parse -> triage -> persist (dedupe)
-> queue -> 202. Nothing is parsed before the signature checks out, and nothing is answered 202
before the delivery is committed to SQLite.

    401 missing or wrong X-Hub-Signature-256      413 body over the limit
    400 no event/delivery header, or not JSON       503 draining (GitHub redelivers later)
    200 pong | ignored | duplicate                  202 accepted (queued)
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from envctl.errors import ConfigError
from envctl.github import signature
from envctl.github.deliveries import Delivery, DeliveryStore
from envctl.github.jobs import JobQueue
from envctl.github.router import Router
from envctl.github.settings import GitHubSettings

log = logging.getLogger("envctl.github.server")
PATH = "/webhooks/github"


class TooLarge(Exception):
    pass


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(status: int, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"message": message, **extra}, status_code=status)


@dataclass
class WebhookService:
    settings: GitHubSettings
    store: DeliveryStore
    router: Router
    queue: JobQueue

    @classmethod
    def build(cls, settings: GitHubSettings, router: Router | None = None, synchronous: bool = False) -> WebhookService:
        if not settings.webhook_secret:
            raise ConfigError("ENVCTL_WEBHOOK_SECRET is not set", "set it to the secret configured on the GitHub webhook")
        settings.require_credentials()
        store = DeliveryStore.in_state_dir(settings.state_dir)
        router = router or Router(settings)
        router.pushes_after = store.pushes_after
        queue = JobQueue(store, router.run, workers=settings.workers, max_attempts=settings.max_attempts,
                         synchronous=synchronous)
        return cls(settings, store, router, queue)

    async def receive(self, request: Request) -> JSONResponse:
        started = time.perf_counter()
        response = await self._receive(request)
        # how long intake took inside the server (excludes time queued before the handler ran)
        response.headers["Server-Timing"] = f"intake;dur={(time.perf_counter() - started) * 1000:.2f}"
        return response

    async def _receive(self, request: Request) -> JSONResponse:
        if self.queue.draining:
            return _answer(503, "draining; please redeliver")
        try:
            body = await _read_limited(request, self.settings.max_body_bytes)
        except TooLarge:
            return _answer(413, f"payload larger than {self.settings.max_body_bytes} bytes")
        assert self.settings.webhook_secret
        if not signature.verify(self.settings.webhook_secret, body, request.headers.get("x-hub-signature-256")):
            return _answer(401, "bad or missing X-Hub-Signature-256")
        event = request.headers.get("x-github-event")
        delivery_id = request.headers.get("x-github-delivery")
        if not event or not delivery_id:
            return _answer(400, "X-GitHub-Event and X-GitHub-Delivery headers are required")
        try:
            payload = json.loads(body)
            triage = self.router.triage(event, payload)
        except (ValueError, ConfigError) as err:
            log.warning("delivery %s (%s) refused with 400: unreadable payload: %s", delivery_id, event, err)
            return _answer(400, f"unreadable payload: {err}")
        if event == "ping":
            return _answer(200, "pong", zen=payload.get("zen"))
        if triage.key is None:
            return _answer(200, "ignored", reason=triage.reason)
        delivery = Delivery(id=delivery_id, event=event, key=triage.key, body=body, dedupe=triage.dedupe)
        if not await asyncio.wrap_future(self.store.accept_later(delivery)):
            return _answer(200, "duplicate", delivery=delivery_id)
        if self.queue.synchronous:
            await anyio.to_thread.run_sync(self.queue.submit, delivery)
        else:
            self.queue.submit(delivery)
        return _answer(202, "accepted", delivery=delivery_id)

    def start(self) -> int:
        self.store.prune()
        resumed = self.queue.resume()
        if resumed:
            log.info("resumed %d unfinished deliveries", resumed)
        return resumed

    def stop(self, timeout: float = 60.0) -> None:
        self.queue.drain(timeout)
        self.router.close()
        self.store.close()

    def app(self) -> Starlette:
        async def healthz(_: Request) -> JSONResponse:
            return JSONResponse({"ok": True})

        async def readyz(_: Request) -> JSONResponse:
            draining = self.queue.draining
            return JSONResponse({"ready": not draining, "deliveries": self.store.counts()},
                                status_code=503 if draining else 200)

        @asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            await anyio.to_thread.run_sync(self.start)
            yield
            await anyio.to_thread.run_sync(self.stop)

        return Starlette(
            routes=[
                Route(PATH, self.receive, methods=["POST"]),
                Route("/healthz", healthz, methods=["GET"]),
                Route("/readyz", readyz, methods=["GET"]),
            ],
            lifespan=lifespan,
        )
