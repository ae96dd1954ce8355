"""``GET /metrics``: the server's counters in the Prometheus text format (version 0.0.4).

The counters live in one anonymous shared memory map made before the workers fork: each worker
writes only its own row of float64 slots (no lock: one writer per row, on its event loop) and a
scrape, whichever worker it reaches, sums the rows. So the counts are the server's, not one
worker's. Recording is a few memoryview additions per request (~0.3 us), rendering happens only
on a scrape.
"""

from __future__ import annotations

import math
import mmap
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from runner.serving.model import ModelInfo

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "runner_serve"
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                   0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
# errors by kind: the status each answer's kind has (http.REASONS' codes, the error side)
ERROR_KINDS = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
               408: "timeout", 411: "length_required", 413: "body_too_large",
               415: "unsupported_media_type", 431: "head_too_large", 500: "internal",
               503: "unavailable"}
KIND_INDEX = {status: i for i, status in enumerate(ERROR_KINDS)}
OTHER_KIND = len(ERROR_KINDS)


@dataclass(frozen=True)
class Histogram:
    """Where a histogram's slots start in a row: one per bucket (+Inf last), then sum, count."""

    start: int
    bounds: Sequence[float]

    @property
    def size(self) -> int:
        return len(self.bounds) + 3

    @property
    def sum_slot(self) -> int:
        return self.start + len(self.bounds) + 1


def _layout() -> dict[str, int]:
    names = ([f"status_{c}" for c in STATUS_CLASSES] + [f"error_{i}" for i in range(OTHER_KIND + 1)]
             + ["rows", "open", "model_version", "reload_ok", "reload_failed"])
    return {name: i for i, name in enumerate(names)}


SLOT = _layout()
ERROR_SLOT = SLOT["error_0"]
REQUEST_SECONDS = Histogram(len(SLOT), LATENCY_BUCKETS)
SCORING_SECONDS = Histogram(REQUEST_SECONDS.start + REQUEST_SECONDS.size, LATENCY_BUCKETS)
BATCH_ROWS = Histogram(SCORING_SECONDS.start + SCORING_SECONDS.size, BATCH_BUCKETS)
SLOTS = BATCH_ROWS.start + BATCH_ROWS.size
REQUEST_START, REQUEST_SUM = REQUEST_SECONDS.start, REQUEST_SECONDS.sum_slot
SCORING_START, SCORING_SUM = SCORING_SECONDS.start, SCORING_SECONDS.sum_slot
BATCH_START, ROWS_SLOT = BATCH_ROWS.start, SLOT["rows"]


class Metrics:
    """The counters of a server of ``workers`` processes; ``use_row`` picks this worker's row."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers
        self.memory = mmap.mmap(-1, workers * SLOTS * 8)  # MAP_SHARED: seen across fork
        view = memoryview(self.memory).cast("d")
        self.rows = [view[i * SLOTS:(i + 1) * SLOTS] for i in range(workers)]
        self.row = self.rows[0]

    def use_row(self, worker: int) -> None:
        self.row = self.rows[worker]

    def answered(self, status: int, seconds: float | None) -> None:
        """One response sent; ``seconds`` from the request read to its answer written.

        Inlined (no helper calls): this and ``scored`` run once per request."""
        row = self.row
        row[status // 100 - 1 if 100 <= status < 600 else 4] += 1
        if status >= 400:
            row[ERROR_SLOT + KIND_INDEX.get(status, OTHER_KIND)] += 1
        if seconds is not None:
            row[REQUEST_START + bisect_left(LATENCY_BUCKETS, seconds)] += 1
            row[REQUEST_SUM] += seconds

    def scored(self, rows: int, seconds: float) -> None:
        """One model call of ``rows`` rows. Histogram counts (the sum of their buckets) and the
        batch histogram's sum (the rows scored) are left to ``total``: fewer writes here."""
        row = self.row
        row[ROWS_SLOT] += rows
        row[SCORING_START + bisect_left(LATENCY_BUCKETS, seconds)] += 1
        row[SCORING_SUM] += seconds
        row[BATCH_START + bisect_left(BATCH_BUCKETS, rows)] += 1

    def set(self, slot: str, value: float) -> None:
        self.row[SLOT[slot]] = value

    def add(self, slot: str, value: float = 1) -> None:
        self.row[SLOT[slot]] += value

    def answers(self) -> int:
        """Responses this worker sent."""
        return int(sum(self.row[:len(STATUS_CLASSES)]))

    def total(self) -> list[float]:
        """Every slot summed over the workers, with what the request path leaves out filled in:
        each histogram's count (the sum of its buckets) and the batch histogram's sum."""
        total = [sum(values) for values in zip(*self.rows, strict=True)]
        for histogram in (REQUEST_SECONDS, SCORING_SECONDS, BATCH_ROWS):
            buckets = total[histogram.start:histogram.sum_slot]
            total[histogram.sum_slot + 1] = sum(buckets)
        total[BATCH_ROWS.sum_slot] = total[ROWS_SLOT]
        return total

    def render(self, info: ModelInfo) -> bytes:
        return "".join(exposition(self.total(), [list(r) for r in self.rows], info)).encode()


def exposition(total: list[float], rows: list[list[float]], info: ModelInfo) -> Iterator[str]:
    """The text format: HELP and TYPE, then the samples, of every metric."""
    yield from _family("requests_total", "counter", "HTTP responses sent, by status class",
                       [(f'code="{c}"', total[SLOT[f"status_{c}"]]) for c in STATUS_CLASSES])
    kinds = [*ERROR_KINDS.values(), "other"]
    yield from _family("errors_total", "counter", "error responses (4xx, 5xx), by kind",
                       [(f'kind="{k}"', total[SLOT["error_0"] + i]) for i, k in enumerate(kinds)])
    yield from _histogram("request_duration_seconds",
                          "from a request read to its answer written", total, REQUEST_SECONDS)
    yield from _histogram("scoring_duration_seconds", "one model call (a batch of requests)",
                          total, SCORING_SECONDS)
    yield from _histogram("batch_rows", "rows per model call", total, BATCH_ROWS)
    yield from _family("rows_scored_total", "counter", "input rows scored by the model",
                       [("", total[SLOT["rows"]])])
    yield from _family("open_connections", "gauge", "open client connections",
                       [("", total[SLOT["open"]])])
    yield from _family("reloads_total", "counter", "new model versions loaded, by result",
                       [('result="ok"', total[SLOT["reload_ok"]]),
                        ('result="failed"', total[SLOT["reload_failed"]])])
    labels = (f'name="{_label(info.name or "")}",version="{_label(info.version or "")}",'
              f'run_id="{_label(info.run_id or "")}"')
    yield from _family("model_info", "gauge", "the model this worker answers with",
                       [(labels, 1.0)])
    yield from _family("model_version", "gauge", "registered version each worker serves",
                       [(f'worker="{i}"', row[SLOT["model_version"]])
                        for i, row in enumerate(rows)])


def _family(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]
            ) -> Iterator[str]:
    yield f"# HELP {PREFIX}_{name} {help_text}\n# TYPE {PREFIX}_{name} {kind}\n"
    for labels, value in samples:
        yield f"{PREFIX}_{name}{{{labels}}} {_value(value)}\n" if labels else \
            f"{PREFIX}_{name} {_value(value)}\n"


def _histogram(name: str, help_text: str, total: list[float], histogram: Histogram
               ) -> Iterator[str]:
    full = f"{PREFIX}_{name}"
    yield f"# HELP {full} {help_text}\n# TYPE {full} histogram\n"
    cumulative = 0.0
    for i, bound in enumerate([*histogram.bounds, math.inf]):
        cumulative += total[histogram.start + i]
        yield f'{full}_bucket{{le="{_value(bound)}"}} {_value(cumulative)}\n'
    end = histogram.sum_slot
    yield f"{full}_sum {_value(total[end])}\n{full}_count {_value(total[end + 1])}\n"


def _value(value: float) -> str:
    value = float(value)
    if math.isinf(value):
        return "+Inf"
    if math.isnan(value):
        return "NaN"
    return str(int(value)) if value.is_integer() else repr(value)


def _label(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
