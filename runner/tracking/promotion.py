"""Champion and challenger: a newly registered version takes the ``champion`` alias when it
beats the current champion on the sweep's metric, compared only within one lineage (same data,
same split). A version of another task (its label, class names or input columns differ from the
champion's) takes no alias at all, whatever its registered name: a client of the champion would
get answers to another question."""

from __future__ import annotations

from typing import Any

from runner import console
from runner.tracking import read, resolve

CHALLENGER_ALIAS = "challenger"


def promote(
    name: str,
    version: str,
    metric: str,
    value: float,
    margin: float,
    greater_is_better: bool = True,
) -> str:
    """Alias a new version ``champion`` if it beats the current champion's ``metric`` by more
    than ``margin`` (or there is none), else ``challenger``. Returns the alias set: none (``""``)
    for a version of another task than the champion's (``task``), with one note.

    Metrics are compared only between runs trained on the same data and split (``lineage``): a
    version trained on other data becomes the champion of its own lineage, with one note on
    stderr saying what differs.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = _RunsReadOnce(MlflowClient())
    try:
        champion = client.get_model_version_by_alias(name, resolve.CHAMPION_ALIAS)
    except MlflowException:
        champion = None
    if champion is not None and resolve.unservable(client, champion) is not None:
        champion = None  # a version never served is no bar to beat
    if champion is not None and str(champion.version) == str(version):
        return resolve.CHAMPION_ALIAS  # already is (a finished sweep run again)
    if champion is not None:
        other_task = lineage_difference(task(client, name, str(champion.version)),
                                     task(client, name, version))
        if other_task:
            console.note(f"{name} version {version} gets no alias: it answers another task than "
                         f"@champion version {champion.version} ({other_task}); register it "
                         "under another name (tracking.registered_model_name)")
            return ""
        new_run = client.get_model_version(name, version).run_id
        differs = lineage_difference(lineage(client, champion.run_id), lineage(client, new_run))
        if differs:
            console.note(f"{name} version {version} is @champion of its own lineage, not "
                         f"compared with version {champion.version} (the champion until now): "
                         f"{differs}")
            champion = None
    best = client.get_run(str(champion.run_id)).data.metrics.get(metric) if champion else None
    gain = None if best is None else (value - best if greater_is_better else best - value)
    alias = resolve.CHAMPION_ALIAS if gain is None or gain > margin else CHALLENGER_ALIAS
    client.set_registered_model_alias(name, alias, version)
    return alias


class _RunsReadOnce:
    """An MlflowClient whose ``get_run`` asks the store once per run: a promotion reads the
    champion's run for its status, its lineage and its metric."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._runs: dict[str, Any] = {}

    def get_run(self, run_id: str) -> Any:
        if run_id not in self._runs:
            self._runs[run_id] = self._client.get_run(run_id)
        return self._runs[run_id]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


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
    config = read.run_config(run_id, run.info.artifact_uri)
    split = (config.get("data") or {}).get("split") or {}
    if split:  # else a run logged outside runner: its params may still say the seed
        found["split"] = " ".join(f"{k}={split[k]}" for k in sorted(split))
    elif "data.split.seed" in run.data.params:
        found["split"] = f"seed={run.data.params['data.split.seed']}"
    return found


def lineage_difference(champion: dict[str, str], new: dict[str, str]) -> str:
    """What differs between two lineages (or ``task``s), as ``data digest differs (a -> b)``;
    empty when they match on everything both runs logged."""
    return "; ".join(f"{key} differs ({champion[key]} -> {new[key]})" for key in champion
                     if key in new and champion[key] != new[key])


def task(client: Any, name: str, version: str) -> dict[str, str]:
    """What a registered version answers: its label and class names (from its run's logged
    config) and its input columns (its signature). Keys a version does not say are left out."""
    from mlflow.exceptions import MlflowException

    try:
        run_id = client.get_model_version(name, version).run_id
    except MlflowException:
        return {}
    found: dict[str, str] = {}
    data = read.run_config(run_id).get("data") or {}
    if data.get("label"):
        found["label"] = str(data["label"])
    if data.get("class_names"):
        found["class names"] = ", ".join(map(str, data["class_names"]))
    inputs = _input_columns(f"models:/{name}/{version}")
    if inputs:
        found["input columns"] = ", ".join(inputs)
    return found


def _input_columns(uri: str) -> list[str]:
    """The input column names of a model's signature; empty when it has none or is unreadable."""
    import mlflow

    try:
        signature = mlflow.models.get_model_info(uri).signature
    except Exception:  # a model logged outside runner, an artifact store out of reach
        return []
    return list(signature.inputs.input_names()) if signature and signature.inputs else []

