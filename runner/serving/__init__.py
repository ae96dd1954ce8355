"""``runner serve``: MLflow's scoring protocol over a minimal asyncio HTTP/1.1 server.

The modules, from the wire inwards:

- ``startup``: ``main``, from config to listening; ``workers``: sockets, event loops, pre-fork.
- ``connections``: one worker's keep-alive connections, hostile clients bounded (``Limits``);
  ``http``: request heads parsed, responses encoded; ``batching``: the scoring requests of one
  event-loop wake-up scored with one model call.
- ``app``: the ``App`` (routes; ``load_app`` loads the model and chooses its scorer).
- the pure core, no I/O: ``invocations`` (POST /invocations: prepare, score), ``payloads``
  (JSON, CSV, Parquet bodies), ``columns`` (typed against the model's inputs), ``responses``
  (answers and MLflow's error shape), ``model`` (``ModelInfo``, the ``Scorer`` protocol).
- ``scorers``: the compiled numpy scorer and the Spark fallback, and the choice between them.
- operations: ``reload`` (follows the served alias: a new version loaded, checked against its
  input example and swapped in between requests), ``metrics`` (``GET /metrics``, counted in
  memory shared by the workers); SIGTERM drains (``workers.drain``).
"""

from runner.serving.app import App, load_app
from runner.serving.model import ModelInfo
from runner.serving.scorers import spark_reason
from runner.serving.startup import main

__all__ = ["App", "ModelInfo", "load_app", "main", "spark_reason"]
