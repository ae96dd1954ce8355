"""The one module that talks to MLflow: store, runs, params, metrics, artifacts, models,
registry."""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner import __version__
from runner.errors import RunnerError, first_line
from runner.tracking import registry_sqlite, store

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from runner.pipeline.data import Dataset

DEFAULT_STORE = os.path.join("outputs", "mlflow.db")
CONFIG_ARTIFACT = "config.yaml"
OVERRIDES_ARTIFACT = "overrides.yaml"
MODEL_ARTIFACT = "model"
TAG_PREFIX = "runner."
# A model version tagged runner.status=failed (or whose run is not FINISHED) is never served,
# promoted or picked as latest
STATUS_TAG, FAILED = registry_sqlite.STATUS_TAG, registry_sqlite.FAILED
# Sweep trials may run in threads (hydra.sweeper.n_jobs). MLflow's own get-or-create steps (a data
# set, a registered model) are not atomic: two threads doing one at once fail on a unique key.
_store_lock = threading.Lock()

# MLflow type names for Spark SQL types in data.schema
_SIGNATURE_TYPES = {
    "string": "string",
    "double": "double",
    "float": "float",
    "int": "long",
    "integer": "long",
    "bigint": "long",
    "long": "long",
    "smallint": "long",
    "tinyint": "long",
    "boolean": "boolean",
}
_NUMERIC_TYPES = frozenset({"double", "float", "long"})
# MLmodel metadata key: the declared type of each input the signature declares ``any``
DECLARED_TYPES_KEY = "declared_input_types"


# --- Names from the data set: experiment, registered model and (through the experiment) Optuna
# study follow ``data.name``, so different data sets never share a champion or a study.

# The names runner gave the penguins before names came from the data: kept, since stores,
# scripts and `runner serve` users find penguins' runs and champion under them
HISTORIC_NAMES = {"penguins": ("runner", "penguin-classifier")}
_CODEC_ENDINGS = (".gz", ".bz2", ".deflate", ".lz4", ".snappy", ".zst")


def data_name(path: str) -> str:
    """A data set's default name: its file or folder name without extensions (``wine.csv.gz``,
    ``/data/wine/`` and ``s3://b/wine.parquet`` all give ``wine``)."""
    base = path.rstrip("/").rsplit("/", 1)[-1] or "data"
    for ending in _CODEC_ENDINGS:
        base = base.removesuffix(ending)
    return base.split(".", 1)[0] or base


def experiment_name(name: str) -> str:
    """The MLflow experiment of a data set: its name (penguins: ``runner``, as always)."""
    return HISTORIC_NAMES.get(name, (name, ""))[0]


def registered_model_name(name: str) -> str:
    """The registered model of a data set: ``<name>-classifier`` (penguins:
    ``penguin-classifier``)."""
    return HISTORIC_NAMES.get(name, ("", f"{name}-classifier"))[1]


NAME_RESOLVERS = {"runner.data_name": data_name, "runner.experiment": experiment_name,
                  "runner.model_name": registered_model_name}


def register_name_resolvers() -> None:
    """Make the config's ``${runner.experiment:${data.name}}``-style defaults resolvable."""
    from omegaconf import OmegaConf

    for resolver, fn in NAME_RESOLVERS.items():
        if not OmegaConf.has_resolver(resolver):
            OmegaConf.register_new_resolver(resolver, fn)


def resolve_uri(uri: str | None) -> str:
    """``tracking.uri`` if set, else $MLFLOW_TRACKING_URI, else the embedded sqlite store."""
    return (
        uri
        or os.environ.get("MLFLOW_TRACKING_URI")
        or f"sqlite:///{os.path.abspath(DEFAULT_STORE)}"
    )


def use_store(uri: str | None, writes: bool = False) -> str:
    """Point MLflow at a store (resolved as in ``resolve_uri``) without choosing an experiment.

    The store is checked first (``check_store``; ``writes``: it will be written to) and an
    embedded sqlite store is created if missing, safely against kills and concurrent creators
    (``runner.tracking.store``).
    """
    resolved = check_store(uri, writes)
    store.ensure(resolved)
    import mlflow

    for noisy in ("alembic", "mlflow.store", "mlflow.tracking"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    mlflow.set_tracking_uri(resolved)
    return resolved


def check_store(uri: str | None, writes: bool = True) -> str:
    """What can be known about the store in a few seconds and without MLflow or a JVM: a known
    URI scheme, a tracking server that answers, a sqlite file and folder that can be written
    (``writes``; a read-only store still serves). Returns the resolved URI; raises RunnerError
    (one line naming the URI) otherwise."""
    resolved = resolve_uri(uri)
    scheme = store.scheme(resolved)
    if scheme in ("http", "https"):
        store.probe_server(resolved)
    elif scheme not in store.known_schemes():
        raise RunnerError(f"tracking.uri={resolved}: unknown store scheme {scheme!r} (use "
                          "sqlite:///<file>, http(s)://<server>, a database URL or a path)")
    path = store.sqlite_path(resolved)
    if path is not None and (writes or not os.path.exists(path)):
        store.check_writable(path)
    return resolved


def configure(cfg: Any) -> str:
    """Point MLflow at the store and experiment of a ``tracking`` config; return the store URI."""
    import mlflow

    uri = use_store(cfg.uri, writes=True)
    try:
        experiment = mlflow.get_experiment_by_name(cfg.experiment_name)
        if experiment is None:
            mlflow.create_experiment(
                cfg.experiment_name, artifact_location=_artifact_root(uri, cfg)
            )
        mlflow.set_experiment(cfg.experiment_name)
    except Exception as exc:
        raise RunnerError(
            f"tracking.uri={uri}: cannot use the MLflow store: {first_line(exc)}"
        ) from exc
    return uri


def _artifact_root(uri: str, cfg: Any) -> str | None:
    """Keep the embedded store's artifacts beside its database instead of in ./mlruns."""
    if not uri.startswith("sqlite:///"):
        return None
    root = os.path.join(os.path.dirname(uri[len("sqlite:///") :]), "mlartifacts")
    return "file://" + os.path.join(root, cfg.experiment_name)


@contextmanager
def run(name: str | None, tags: dict[str, str], parent_run_id: str | None = None) -> Iterator[str]:
    """Start an MLflow run and always end it: FINISHED, FAILED (error kept as a tag) or KILLED."""
    import mlflow

    all_tags = {**tags, **({"mlflow.parentRunId": parent_run_id} if parent_run_id else {})}
    active = mlflow.start_run(run_name=name, tags=all_tags, nested=parent_run_id is not None)
    try:
        yield active.info.run_id
    except KeyboardInterrupt:
        mlflow.end_run("KILLED")
        raise
    except BaseException as exc:
        mlflow.set_tag(TAG_PREFIX + "error", f"{type(exc).__name__}: {first_line(exc)}"[:5000])
        mlflow.end_run("FAILED")
        _mark_failed_versions(active.info.run_id)
        raise
    mlflow.end_run("FINISHED")


def _mark_failed_versions(run_id: str) -> None:
    """Tag ``runner.status=failed`` on any version registered from a run that then failed (runner
    registers after the run ends; this covers versions other code registered during it)."""
    from mlflow import MlflowClient

    try:
        client = MlflowClient()
        for version in client.search_model_versions(f"run_id = '{run_id}'"):
            client.set_model_version_tag(version.name, version.version, STATUS_TAG, FAILED)
    except Exception:  # the run's own error is the one to report
        logging.getLogger(__name__).warning("could not mark versions of failed run %s", run_id)


def standard_tags(spark_master: str) -> dict[str, str]:
    """Provenance tags: runner and library versions, Spark master, git commit and dirty flag."""
    import mlflow
    import pyspark

    tags = {
        TAG_PREFIX + "version": __version__,
        TAG_PREFIX + "pyspark_version": pyspark.__version__,
        TAG_PREFIX + "mlflow_version": mlflow.__version__,
        TAG_PREFIX + "spark_master": spark_master,
    }
    return {**tags, **_git_tags(os.getcwd())}


@functools.cache
def _git_tags(cwd: str) -> dict[str, str]:
    """Commit and dirty flag of the repository at ``cwd``, read once per process: the trials of
    a sweep share them, and the outputs they write cannot make the sweep dirty."""
    commit = _git("rev-parse", "HEAD")
    if not commit:
        return {}
    dirty = str(bool(_git("status", "--porcelain"))).lower()
    return {"mlflow.source.git.commit": commit, TAG_PREFIX + "git_dirty": dirty}


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def log_config(resolved_yaml: str, overrides: list[str]) -> None:
    """The resolved config and the command-line overrides, as YAML artifacts."""
    import mlflow
    import yaml

    mlflow.log_text(resolved_yaml, CONFIG_ARTIFACT)
    mlflow.log_text(yaml.safe_dump(list(overrides)), OVERRIDES_ARTIFACT)


def log_params(params: dict[str, Any]) -> None:
    import mlflow

    mlflow.log_params({k: str(v)[:6000] for k, v in params.items()})


def log_metrics(values: dict[str, float]) -> None:
    import mlflow

    mlflow.log_metrics(values)


def log_figure(fig: Figure, name: str) -> None:
    import mlflow

    mlflow.log_figure(fig, name)


def log_dataset(data: Dataset, name: str, schema: dict[str, str]) -> None:
    """The data set as a run input: source path, digest of the typed rows, declared schema.

    Built from what runner already computed, so logging it costs no Spark job.
    """
    import mlflow
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.data.spark_dataset_source import SparkDatasetSource
    from mlflow.types import ColSpec, Schema

    columns = Schema(
        [ColSpec(_SIGNATURE_TYPES.get(t.lower(), "string"), c) for c, t in schema.items()]
    )
    dataset = MetaDataset(  # type: ignore[abstract]  # profile is optional at runtime
        SparkDatasetSource(path=data.path), name=name, digest=data.digest, schema=columns
    )
    with _store_lock:  # the store looks the data set up, then inserts it: racy across threads
        mlflow.log_input(dataset, context="training")


def signature(schema: dict[str, str], label: str) -> Any:
    """Model signature: one input column per feature, prediction out.

    Numeric features are declared ``any``, the one declaration under which MLflow's clients
    take the lab's ints: MLflow 3.17's schema enforcement (``_enforce_mlflow_datatype``)
    converts an int column to ``double`` only when its dtype has at most 6 bytes (pandas' int64,
    what ``pd.DataFrame([{"FlipperLength": 210}])``, ``read_csv`` and JSON give, only if every
    value is 0 or 1), and converts a float64 column to no integer type, so no typed column takes
    both 210 and 48.7. The scorer, like the Spark pipeline, casts numbers to the declared type
    and rejects what is not a number; the declared types stay in the MLmodel's metadata
    (``declared_input_types``), where ``model_inputs`` reads them.
    """
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from mlflow.types.schema import AnyType

    inputs: list[Any] = [
        ColSpec(AnyType() if kind in _NUMERIC_TYPES else kind, name)
        for name, kind in declared_input_types(schema, label).items()
    ]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema([ColSpec("double", "prediction")]))


def declared_input_types(schema: dict[str, str], label: str | None = None) -> dict[str, str]:
    """Feature column -> MLflow type name of its declared Spark SQL type (``data.schema``)."""
    return {c: _SIGNATURE_TYPES.get(t.lower(), "string") for c, t in schema.items() if c != label}


def _pip_requirements() -> list[str]:
    """Pinned explicitly: inferring them starts a second JVM and costs ~20 s per model."""
    import mlflow
    import pyspark

    return [f"pyspark=={pyspark.__version__}", f"mlflow=={mlflow.__version__}", "pandas<3"]


def warm_up_model_logging() -> None:
    """Build now the map of installed distributions that MLflow's requirement check builds when
    the first model is logged (~0.25 s): call it where it is off the critical path."""
    try:
        from mlflow.utils.requirements_utils import _init_modules_to_packages_map
    except ImportError:  # a later MLflow: the check does what it does, nothing is lost
        return
    _init_modules_to_packages_map()


@dataclass(frozen=True)
class LoggedModel:
    uri: str
    registered_name: str | None
    version: str | None  # set by ``register``, once the run has ended FINISHED
    run_id: str | None = None


def log_model(
    model: Any,
    model_signature: Any,
    registered_name: str | None,
    input_schema: dict[str, str],
    class_names: list[str] | None = None,
    input_example: Any = None,
) -> LoggedModel:
    """Log the fitted PipelineModel into the active run. It is not registered yet: ``register``
    does that once the run has ended FINISHED, so no version ever points at an unfinished run.

    The MLmodel keeps the spark flavor (``mlflow.spark.load_model`` gives the PipelineModel) and
    its python_function flavor is the JVM-free compiled scorer (runner.compiled), unless a stage
    cannot be compiled: then it stays MLflow's Spark-backed one.

    Args:
        input_schema: raw input column -> Spark SQL type (``data.schema`` without the label).
        class_names: the name of each class index, returned as ``label`` by the compiled pyfunc.
        input_example: a few input rows (pandas DataFrame) saved as the model's input example.
    """
    with _store_lock:  # registering creates the registered model on first use: as racy
        return _log_model(model, model_signature, registered_name, input_schema, class_names,
                          input_example)


def _log_model(
    model: Any,
    model_signature: Any,
    registered_name: str | None,
    input_schema: dict[str, str],
    class_names: list[str] | None,
    input_example: Any = None,
) -> LoggedModel:
    from mlflow.models import Model

    from runner.compiled import flavor

    # Model.log, as mlflow.spark.log_model for local stores: an MLflow 3 LoggedModel (model_id in
    # the MLmodel, in logged-models/search, linked to the run's metrics logged so far and to its
    # params), its files under the logged model's artifact location; runs:/<id>/model resolves
    # to them through MLflow, and runner's sqlite reader defers to MLflow for such URIs.
    info = Model.log(
        None,  # artifact_path: deprecated for name
        flavor,
        name=MODEL_ARTIFACT,
        spark_model=model,
        input_schema=dict(input_schema),
        class_names=list(class_names) if class_names else None,
        signature=_with_params(model_signature),
        pip_requirements=_pip_requirements(),
        metadata={DECLARED_TYPES_KEY: declared_input_types(input_schema)},
        input_example=input_example,
        validate_serving_input=False,  # the flavor checks the example (compiled.flavor)
    )
    return LoggedModel(info.model_uri, registered_name, None, info.run_id)


def register(logged: LoggedModel) -> LoggedModel:
    """Register a logged model under its name, now that its run has ended FINISHED (a run that
    did not is refused: it may lack what it was to log). No name: returned as it is."""
    import mlflow
    from mlflow import MlflowClient

    if not logged.registered_name or not logged.run_id:
        return logged
    status = MlflowClient().get_run(logged.run_id).info.status
    if status != "FINISHED":
        raise RunnerError(f"run {logged.run_id} is {status}: its model is not registered")
    with _store_lock:  # the registered model is created on first use: racy across threads
        # an MLflow 3 logged model is registered by its own URI (models:/m-...): through
        # runs:/<id>/model MLflow finds no run artifact and warns before doing the same
        source = (logged.uri if logged.uri.startswith("models:/")
                  else f"runs:/{logged.run_id}/{MODEL_ARTIFACT}")
        version = mlflow.register_model(source, logged.registered_name).version
    return LoggedModel(logged.uri, logged.registered_name, str(version), logged.run_id)


def _with_params(model_signature: Any) -> Any:
    """The signature plus the compiled pyfunc's ``probabilities`` flag, so that MLflow's scoring
    server passes it through."""
    from mlflow.models import ModelSignature
    from mlflow.types import ParamSchema, ParamSpec

    from runner.compiled.pyfunc import PROBABILITIES_PARAM

    return ModelSignature(
        model_signature.inputs,
        model_signature.outputs,
        ParamSchema([ParamSpec(PROBABILITIES_PARAM, "boolean", False)]),
    )


@dataclass(frozen=True)
class LoggedRun:
    """What ``runner reproduce`` needs from a past run."""

    run_id: str
    config_yaml: str
    overrides: list[str]
    metrics: dict[str, float]
    tags: dict[str, str]
    dataset_digests: list[str]


def fetch_run(run_id: str) -> LoggedRun:
    """Read a run's logged config, overrides, metrics, tags and input digests."""
    import mlflow
    import yaml
    from mlflow.exceptions import MlflowException

    try:
        found = mlflow.get_run(run_id)
        config_yaml = mlflow.artifacts.load_text(f"runs:/{run_id}/{CONFIG_ARTIFACT}")
        overrides = yaml.safe_load(
            mlflow.artifacts.load_text(f"runs:/{run_id}/{OVERRIDES_ARTIFACT}")
        )
    except MlflowException as exc:
        raise RunnerError(
            f"run {run_id}: {first_line(exc)} (is tracking.uri the store it was logged to?)"
        ) from exc
    inputs = found.inputs.dataset_inputs if found.inputs else []
    return LoggedRun(
        run_id=run_id,
        config_yaml=config_yaml,
        overrides=list(overrides or []),
        metrics=dict(found.data.metrics),
        tags=dict(found.data.tags),
        dataset_digests=[i.dataset.digest for i in inputs],
    )


def ui_command(uri: str) -> str:
    """The shell command that opens the MLflow UI on this store."""
    return f"mlflow ui --backend-store-uri {uri}" if not uri.startswith("http") else f"open {uri}"


# ---- model resolution for serving and batch scoring ----------------------------------------

CHAMPION_ALIAS = "champion"


@dataclass(frozen=True)
class ResolvedModel:
    """A model found in the store and downloaded: where it is and what it is."""

    uri: str  # the URI it was loaded from (models:/<name>/<version> once resolved)
    local_path: str
    name: str | None = None
    version: str | None = None
    run_id: str | None = None
    alias: str | None = None


def resolve_model(model_uri: str | None, registered_name: str | None) -> ResolvedModel:
    """``model_uri`` if given, else ``models:/<name>@champion``, else the name's latest version.

    Downloads the model's files (a no-op copy for local paths) and raises RunnerError naming what
    was looked for when nothing is found. Call ``use_store`` first.
    """
    local_dir = local_model_dir(model_uri)
    if local_dir is not None:  # a model directory on disk: no store to ask
        return ResolvedModel(str(model_uri), local_dir, run_id=_mlmodel(local_dir).get("run_id"))
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one line per file
    name, version, alias = _registry_version(model_uri, registered_name)
    uri = model_uri or f"models:/{name}/{version}"
    try:  # the version chosen here: MLflow's own "latest" could be one runner never serves
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version}" if name and version else uri)
        run_id = _mlmodel(local).get("run_id")
    except Exception as exc:
        raise RunnerError(f"model {uri}: {first_line(exc)}") from exc
    return ResolvedModel(uri, local, name, version, run_id, alias)


def find_model(model_uri: str | None, registered_name: str | None,
               store_uri: str | None) -> ResolvedModel:
    """``resolve_model`` in the store ``store_uri`` (``tracking.uri``, resolved as in
    ``resolve_uri``), importing MLflow only when it must be asked.

    A model directory needs no store. In a local sqlite store a registry or ``runs:/`` URI is
    read with the stdlib's sqlite3, read-only, and served from the store's own artifact
    directory: ~2 s less startup. Whenever that reading could differ from MLflow's answer
    (``runner.tracking.registry_sqlite`` says when), MLflow answers, and raises its own errors.
    """
    if local_model_dir(model_uri) is not None:
        return resolve_model(model_uri, registered_name)
    found = registry_sqlite.find(resolve_uri(store_uri), model_uri, registered_name,
                                 CHAMPION_ALIAS)
    try:
        run_id = _mlmodel(found.local_path).get("run_id") if found else None
    except RunnerError:  # unreadable: MLflow's path says so, naming the model URI
        found = None
    if found is None:
        use_store(store_uri)
        return resolve_model(model_uri, registered_name)
    uri = model_uri or f"models:/{found.name}/{found.version}"
    return ResolvedModel(uri, found.local_path, found.name, found.version, run_id, found.alias)


def local_model_dir(model_uri: str | None) -> str | None:
    """The directory of a model URI that is a local path (or file://) holding an MLmodel."""
    if not model_uri or (":" in model_uri.split("/", 1)[0] and
                         not model_uri.startswith("file://")):
        return None
    path = model_uri[len("file://"):] if model_uri.startswith("file://") else model_uri
    return os.path.abspath(path) if os.path.isfile(os.path.join(path, "MLmodel")) else None


def _registry_version(
    model_uri: str | None, registered_name: str | None
) -> tuple[str | None, str | None, str | None]:
    """(name, version, alias) of a models:/ URI or of the registered name's default version."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    if model_uri and not model_uri.startswith("models:/"):
        return None, None, None
    if model_uri:
        name, _, ref = model_uri[len("models:/") :].partition("@")
        name, _, number = name.partition("/")
        alias = ref or None
    elif registered_name:
        name, number, alias = registered_name, "", CHAMPION_ALIAS
    else:
        raise RunnerError("no model: set the model URI or tracking.registered_model_name")
    client = MlflowClient()
    found: Any = None
    try:
        if number and number != "latest":
            found = client.get_model_version(name, number)
        elif alias:
            found = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if model_uri:  # asked for explicitly: no fallback
            raise RunnerError(f"model {model_uri}: {first_line(exc)}") from exc
    if found is not None:
        why = unservable(client, found)
        if why is None:
            return name, str(found.version), None if number else alias
        if model_uri:  # asked for explicitly: said, not silently replaced
            raise RunnerError(f"model {model_uri}: version {found.version} is not served: {why}")
    return name, _latest_version(client, name), None


def unservable(client: Any, version: Any) -> str | None:
    """Why a model version must not be served (its run did not finish, or runner tagged it
    failed); None when it may be."""
    from mlflow.exceptions import MlflowException

    if (version.tags or {}).get(STATUS_TAG) == FAILED:
        return f"tagged {STATUS_TAG}={FAILED}"
    if not version.run_id:
        return None
    try:
        status = client.get_run(version.run_id).info.status
    except MlflowException:  # a run of another store: nothing known against it
        return None
    return None if status == "FINISHED" else f"its run {version.run_id} is {status}"


def _latest_version(client: Any, name: str) -> str:
    """The highest servable version of ``name``."""
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException as exc:
        raise RunnerError(f"registered model {name!r}: {first_line(exc)}") from exc
    for version in sorted(versions, key=lambda v: -int(v.version)):
        if unservable(client, version) is None:
            return str(version.version)
    raise RunnerError(
        f"registered model {name!r} has no servable versions in {mlflow_uri()} "
        f"({len(versions)} not FINISHED or failed): train one with `runner`, or set the model "
        "URI (runs:/<run id>/model)"
    )


def mlflow_uri() -> str:
    import mlflow

    return str(mlflow.get_tracking_uri())


def _mlmodel(local_path: str) -> dict[str, Any]:
    """A model directory's MLmodel file, read as the YAML it is: serving a model needs its
    flavors, signature and run id, not MLflow (whose import alone takes over a second)."""
    import yaml

    try:
        with open(os.path.join(local_path, "MLmodel")) as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as exc:
        raise RunnerError(f"model at {local_path}: cannot read its MLmodel: {exc}") from exc
    if not isinstance(doc, dict):
        raise RunnerError(f"model at {local_path}: its MLmodel is not a mapping")
    return doc


def model_inputs(local_path: str) -> list[tuple[str, str]]:
    """The model signature's input columns as (name, MLflow type name); empty without one (or
    with a tensor signature). MLflow stores the column specs as a JSON string."""
    import json

    mlmodel = _mlmodel(local_path)
    text = (mlmodel.get("signature") or {}).get("inputs")
    specs = json.loads(text) if text else []
    if not specs or any("name" not in spec or spec.get("type") == "tensor" for spec in specs):
        return []
    declared = (mlmodel.get("metadata") or {}).get(DECLARED_TYPES_KEY) or {}  # for `any` columns
    return [(str(spec["name"]), str(declared.get(spec["name"], spec["type"])
                                    if spec["type"] == "any" else spec["type"]))
            for spec in specs]


def model_flavors(local_path: str) -> dict[str, dict[str, Any]]:
    """The MLmodel's flavors, by name, with their settings (loader_module, data, ...)."""
    return dict(_mlmodel(local_path).get("flavors") or {})


def run_config(run_id: str | None) -> dict[str, Any]:
    """A run's logged config (``config.yaml``) as plain data; empty when the run or config is
    absent (a model logged outside runner)."""
    import mlflow
    import yaml

    if not run_id:
        return {}
    try:
        config = yaml.safe_load(mlflow.artifacts.load_text(f"runs:/{run_id}/{CONFIG_ARTIFACT}"))
    except Exception:  # a model logged outside runner has no config: what it gives is optional
        return {}
    return config if isinstance(config, dict) else {}


def run_class_names(run_id: str | None) -> list[str]:
    """``data.class_names`` from a run's logged config; empty when the run or config is absent."""
    return [str(c) for c in (run_config(run_id).get("data") or {}).get("class_names") or []]


def load_spark_model(local_path: str) -> Any:
    """The spark flavor's PipelineModel (needs an active SparkSession)."""
    import mlflow.spark

    from runner import spark

    logging.getLogger("mlflow.spark").setLevel(logging.WARNING)  # "already on DFS" notes
    try:
        if spark.is_connect():  # MLflow's loader copies to DFS through a local JVM: none here
            data = model_flavors(local_path)["spark"]["model_data"]
            return spark.read_model(os.path.join(local_path, data))
        return mlflow.spark.load_model(local_path)
    except Exception as exc:
        raise RunnerError(f"model at {local_path}: cannot load it: {first_line(exc)}") from exc


# --- Sweeps: the parent run (driven through MlflowClient, so it never sits on the fluent
# active-run stack the trials use), its child runs, and the champion/challenger aliases.

SWEEP_TAG = TAG_PREFIX + "sweep."
ERROR_TAG = TAG_PREFIX + "error"


@dataclass(frozen=True)
class ChildRun:
    """A trial as MLflow recorded it."""

    run_id: str
    status: str
    metrics: dict[str, float]
    tags: dict[str, str]


def experiment_id(name: str) -> str:
    """Id of an experiment that ``configure`` has already created."""
    import mlflow

    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        raise RunnerError(f"tracking.experiment_name={name!r}: experiment not found")
    return str(experiment.experiment_id)


def start_parent(experiment: str, name: str, tags: dict[str, str]) -> str:
    """Create a sweep's parent run (RUNNING) and return its id."""
    from mlflow import MlflowClient

    return str(MlflowClient().create_run(experiment, tags=tags, run_name=name).info.run_id)


def find_parent(experiment: str, tag: str, value: str) -> str | None:
    """The newest top-level run of the experiment whose ``tag`` is ``value``, if any."""
    from mlflow import MlflowClient

    runs = MlflowClient().search_runs(
        [experiment], filter_string=f"tags.`{tag}` = '{value}'",
        order_by=["attributes.start_time DESC"], max_results=100)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    return str(parents[0].info.run_id) if parents else None


def set_statuses(statuses: dict[str, str]) -> None:
    """Run id -> FINISHED, FAILED or KILLED, for runs whose status must change."""
    from mlflow import MlflowClient

    client = MlflowClient()
    for run_id, status in statuses.items():
        client.set_terminated(run_id, status)


def mark_failed(run_id: str, error: str) -> None:
    """A run that ended FINISHED but whose trial failed (no usable value): FAILED, with why."""
    from mlflow import MlflowClient

    client = MlflowClient()
    client.set_tag(run_id, ERROR_TAG, error[:5000])
    client.set_terminated(run_id, "FAILED")


def reopen_parent(run_id: str) -> bool:
    """Mark an interrupted parent run RUNNING again; False when the store does not have it."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    try:
        client.get_run(run_id)
    except MlflowException:
        return False
    client.update_run(run_id, status="RUNNING")
    return True


def log_to_run(
    run_id: str,
    params: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    """Params, metrics and tags in one ``log_batch`` call (params already logged are skipped)."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.utils.time import get_current_time_millis

    client = MlflowClient()
    logged = client.get_run(run_id).data.params
    now = get_current_time_millis()
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()],
        params=[Param(k, str(v)[:6000]) for k, v in (params or {}).items() if k not in logged],
        tags=[RunTag(k, str(v)[:5000]) for k, v in (tags or {}).items()],
    )


def log_run_text(run_id: str, text: str, path: str) -> None:
    from mlflow import MlflowClient

    MlflowClient().log_text(run_id, text, path)


def log_run_figure(run_id: str, fig: Figure, path: str) -> None:
    from mlflow import MlflowClient

    MlflowClient().log_figure(run_id, fig, path)


def end_parent(run_id: str, status: str) -> None:
    """FINISHED, FAILED or KILLED."""
    from mlflow import MlflowClient

    MlflowClient().set_terminated(run_id, status)


def child_runs(experiment: str, parent_run_id: str) -> list[ChildRun]:
    """Every run whose ``mlflow.parentRunId`` is the given parent, oldest first."""
    from mlflow import MlflowClient

    runs = MlflowClient().search_runs(
        [experiment],
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
        max_results=50000,
        order_by=["attributes.start_time ASC"],
    )
    return [
        ChildRun(r.info.run_id, r.info.status, dict(r.data.metrics), dict(r.data.tags))
        for r in runs
    ]


def kill_running(runs: list[ChildRun]) -> int:
    """Mark runs an interruption left RUNNING as KILLED; return how many there were."""
    from mlflow import MlflowClient

    running = [r for r in runs if r.status == "RUNNING"]
    for r in running:
        MlflowClient().set_terminated(r.run_id, "KILLED")
    return len(running)


@contextmanager
def reopened(run_id: str) -> Iterator[None]:
    """Make a finished run active again (to log the sweep's best model into it), then finish it."""
    import mlflow

    mlflow.start_run(run_id=run_id)
    try:
        yield
    finally:
        mlflow.end_run("FINISHED")


def registered_version(name: str, run_id: str) -> str | None:
    """The version of ``name`` registered from this run, if any."""
    from mlflow import MlflowClient

    versions = MlflowClient().search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    return str(versions[0].version) if versions else None


def promote(
    name: str,
    version: str,
    metric: str,
    value: float,
    margin: float,
    greater_is_better: bool = True,
) -> str:
    """Alias a new version ``champion`` if it beats the current champion's ``metric`` by more
    than ``margin`` (or there is none), else ``challenger``. Returns the alias set.

    Metrics are compared only between runs trained on the same data and split (``lineage``): a
    version trained on other data becomes the champion of its own lineage, with one note on
    stderr saying what differs.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    try:
        champion = client.get_model_version_by_alias(name, "champion")
    except MlflowException:
        champion = None
    if champion is not None and unservable(client, champion) is not None:
        champion = None  # a version never served is no bar to beat
    if champion is not None and str(champion.version) == str(version):
        return "champion"  # already is (a finished sweep run again)
    if champion is not None:
        new_run = client.get_model_version(name, version).run_id
        differs = lineage_difference(lineage(client, champion.run_id), lineage(client, new_run))
        if differs:
            _note(f"{name} version {version} is @champion of its own lineage, not compared with "
                  f"version {champion.version} (the champion until now): {differs}")
            champion = None
    best = client.get_run(str(champion.run_id)).data.metrics.get(metric) if champion else None
    gain = None if best is None else (value - best if greater_is_better else best - value)
    alias = "champion" if gain is None or gain > margin else "challenger"
    client.set_registered_model_alias(name, alias, version)
    return alias


def lineage(client: Any, run_id: str | None) -> dict[str, str]:
    """What a run was trained on, as promotion compares it: the digest of its logged data set
    (absent with ``tracking.log_datasets=false``) and its split (``data.split`` of its logged
    config, else the ``data.split.seed`` param). Empty for a run that cannot be read."""
    from mlflow.exceptions import MlflowException

    if not run_id:
        return {}
    try:
        run = client.get_run(run_id)
    except MlflowException:
        return {}
    found: dict[str, str] = {}
    digests = sorted({i.dataset.digest for i in (run.inputs.dataset_inputs if run.inputs else [])})
    if digests:
        found["data digest"] = ",".join(digests)
    split = (run_config(run_id).get("data") or {}).get("split") or {}
    if split:  # else a run logged outside runner: its params may still say the seed
        found["split"] = " ".join(f"{k}={split[k]}" for k in sorted(split))
    elif "data.split.seed" in run.data.params:
        found["split"] = f"seed={run.data.params['data.split.seed']}"
    return found


def lineage_difference(champion: dict[str, str], new: dict[str, str]) -> str:
    """What differs between two lineages, as ``data digest differs (a -> b)``; empty when
    they match on everything both runs logged."""
    return "; ".join(f"{key} differs ({champion[key]} -> {new[key]})" for key in champion
                     if key in new and champion[key] != new[key])


def _note(message: str) -> None:
    sys.stderr.write(f"runner: note: {message}\n")
    sys.stderr.flush()
