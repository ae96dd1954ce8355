"""runner's one door to MLflow: the store, training runs, models, their read-back and
resolution, sweeps' parent and child runs, and champion promotion.

The work is done in one module per job (below); this facade re-exports what the rest of runner
(and its tests and benchmarks) use, so that callers write ``tracking.log_model(...)``.

- ``connect``: which store, checked, and MLflow pointed at it; ``store``: the embedded sqlite
  store, created safely
- ``runs``: a run's lifecycle, tags and what it logs; ``models`` (with ``flavor``): the model
  logged and registered
- ``read``: logged configs and MLmodel files read back; ``resolve``: which model to serve
  (``registry_sqlite``: the same answer read from a local store without MLflow)
- ``sweeps``: parent and child runs; ``promotion``: the champion alias
"""

from runner.tracking.connect import (
    DEFAULT_STORE,
    check_store,
    configure,
    resolve_uri,
    ui_command,
    use_store,
)
from runner.tracking.models import (
    DECLARED_TYPES_KEY,
    LoggedModel,
    log_model,
    register,
    signature,
    warm_up_model_logging,
)
from runner.tracking.promotion import lineage_difference, promote
from runner.tracking.read import (
    LoggedRun,
    fetch_run,
    model_flavors,
    model_inputs,
    run_class_names,
    run_config,
)
from runner.tracking.resolve import (
    CHAMPION_ALIAS,
    ResolvedModel,
    aliased_version,
    find_model,
    load_spark_model,
    local_model_dir,
    may_move,
    resolve_model,
)
from runner.tracking.runs import (
    CONFIG_ARTIFACT,
    ERROR_TAG,
    FAILED,
    MODEL_ARTIFACT,
    OVERRIDES_ARTIFACT,
    STATUS_TAG,
    TAG_PREFIX,
    log_config,
    log_dataset,
    log_figure,
    log_metrics,
    log_params,
    run,
    standard_tags,
)
from runner.tracking.sweeps import (
    SWEEP_TAG,
    TRIAL_STATE_TAG,
    ChildRun,
    child_runs,
    end_parent,
    experiment_id,
    find_parent,
    kill_running,
    log_run_figure,
    log_run_text,
    log_to_run,
    mark_failed,
    registered_version,
    reopen_parent,
    reopened,
    set_statuses,
    start_parent,
)

__all__ = [
    "TRIAL_STATE_TAG",
    "CHAMPION_ALIAS",
    "CONFIG_ARTIFACT",
    "DECLARED_TYPES_KEY",
    "DEFAULT_STORE",
    "ERROR_TAG",
    "FAILED",
    "MODEL_ARTIFACT",
    "OVERRIDES_ARTIFACT",
    "STATUS_TAG",
    "SWEEP_TAG",
    "TAG_PREFIX",
    "ChildRun",
    "LoggedModel",
    "LoggedRun",
    "ResolvedModel",
    "aliased_version",
    "check_store",
    "child_runs",
    "configure",
    "end_parent",
    "experiment_id",
    "fetch_run",
    "find_model",
    "find_parent",
    "kill_running",
    "lineage_difference",
    "load_spark_model",
    "local_model_dir",
    "log_config",
    "log_dataset",
    "log_figure",
    "log_metrics",
    "log_model",
    "log_params",
    "log_run_figure",
    "log_run_text",
    "log_to_run",
    "mark_failed",
    "may_move",
    "model_flavors",
    "model_inputs",
    "promote",
    "register",
    "registered_version",
    "reopen_parent",
    "reopened",
    "resolve_model",
    "resolve_uri",
    "run",
    "run_class_names",
    "run_config",
    "set_statuses",
    "signature",
    "standard_tags",
    "start_parent",
    "ui_command",
    "use_store",
    "warm_up_model_logging",
]
