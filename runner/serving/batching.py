"""Micro-batching: the POST /invocations that one event-loop wake-up brings in, scored with one
model call and each answered as if alone (``invocations.score_together``).

Each request is scored by the model version it was parsed against (``Loaded``): a swap between
its arrival and the flush starts a new batch, so no request is checked by one version and
scored by another."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from runner.serving.invocations import Prepared
from runner.serving.responses import Response

if TYPE_CHECKING:
    from runner.serving.app import Loaded

MAX_BATCH_ROWS = 1024  # rows scored in one model call; a larger request is scored alone
# a request waiting in a Batcher, the version it was parsed for, what to call with its answer
Queued = tuple[Prepared, "Loaded", Callable[[Response], None]]
ScoreTogether = Callable[[list[Prepared], "Loaded"], list[Response]]


class Batcher:
    """Scores the queued requests of one event-loop wake-up with one model call.

    The compiled scorer takes ~50 us for one row of the lab model and ~60 us for 32, so under
    load, scoring the requests together gives back most of each one's model time. The first
    request queued schedules the flush with ``call_soon``: it runs after every connection with
    data in this wake-up has been read, and waits on no timer, so a lone request is one loop turn
    later.
    """

    def __init__(self, score_together: ScoreTogether, loop: asyncio.AbstractEventLoop) -> None:
        self.score_together, self.loop = score_together, loop
        self.queue: list[Queued] = []

    def add(self, prepared: Prepared, loaded: Loaded, done: Callable[[Response], None]) -> None:
        if not self.queue:
            self.loop.call_soon(self.flush)
        self.queue.append((prepared, loaded, done))

    def flush(self) -> None:
        queue, self.queue = self.queue, []  # answering lets connections queue their next request
        for batch in _batches(queue):
            answers = self.score_together([prepared for prepared, _, _ in batch], batch[0][1])
            for (_, _, done), answer in zip(batch, answers, strict=True):
                done(answer)


def _batches(queue: list[Queued]) -> Iterator[list[Queued]]:
    """The queue in order, cut into batches of at most MAX_BATCH_ROWS rows (or one request) and
    of one model version."""
    batch: list[Queued] = []
    rows = 0
    for item in queue:
        if batch and (rows + item[0].rows > MAX_BATCH_ROWS or item[1] is not batch[0][1]):
            yield batch
            batch, rows = [], 0
        batch.append(item)
        rows += item[0].rows
    if batch:
        yield batch
