"""A browser that stops reading must not hold the feed back: its stream is ended, others go on."""

from __future__ import annotations

import asyncio

from envctl.dashboard.feed import QUEUE_DEPTH, FeedHub


async def test_a_stalled_subscriber_is_dropped_and_told_so() -> None:
    stalled: asyncio.Queue = asyncio.Queue(QUEUE_DEPTH)
    reading: asyncio.Queue = asyncio.Queue(QUEUE_DEPTH)
    subscribers = {stalled, reading}
    for i in range(QUEUE_DEPTH + 1):
        FeedHub._publish(subscribers, {"n": i})
        while not reading.empty():
            got = reading.get_nowait()
            assert got == {"n": i}
    assert subscribers == {reading}
    drained = [stalled.get_nowait() for _ in range(stalled.qsize())]
    assert drained[-1] is None  # its stream ends; EventSource reconnects and gets a fresh snapshot
    assert len(drained) == QUEUE_DEPTH
