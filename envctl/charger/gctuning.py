"""Garbage-collector settings for processes that hold tens of thousands of connections.

Such a process has millions of live objects and every full collection walks them all: pauses of
hundreds of milliseconds. In the server they show up as handler p99; in a simulator worker they
delay a whole second's reconnects into the next one, which looks like a reconnect spike. Young
objects are collected less often and full collections become rare; cycles are still collected,
in bigger, rarer batches. Objects alive at start-up (modules, schemas) are frozen out of
collections altogether.
"""

from __future__ import annotations

import gc


def tune_gc() -> None:
    gc.set_threshold(50_000, 20, 100)


def freeze_startup_objects() -> None:
    gc.collect()
    gc.freeze()
