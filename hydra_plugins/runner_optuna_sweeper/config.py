"""Config schema of the sweeper, stored in Hydra's ConfigStore as ``hydra/sweeper: optuna``,
``hydra/sweeper/sampler: tpe | random | grid | cmaes | nsgaii | qmc | gp | motpe`` (the official
plugin's names and keys, with optuna 5's samplers and their main arguments) and
``hydra/sweeper/pruner: nop | median | percentile | successive_halving | hyperband | wilcoxon``
(optuna 5's pruners and their arguments)."""

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

DEFAULT_STORAGE = "sqlite:///outputs/optuna.db"


class Direction(Enum):
    minimize = 1
    maximize = 2


@dataclass
class SamplerConfig:
    _target_: str = MISSING
    seed: int | None = None


@dataclass
class TPESamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.TPESampler"
    n_startup_trials: int = 10
    n_ei_candidates: int = 24
    multivariate: bool | None = None
    group: bool = False
    # trials running at once (n_jobs) are treated as if they had a bad value, so they spread
    constant_liar: bool = True


@dataclass
class MOTPESamplerConfig(TPESamplerConfig):
    """The official plugin's ``motpe``: optuna 4 removed MOTPESampler, TPESampler does
    multi-objective itself (optuna's migration note)."""


@dataclass
class RandomSamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.RandomSampler"


@dataclass
class GridSamplerConfig(SamplerConfig):
    """The search space is filled in from ``params`` when the sweep starts."""

    _target_: str = "optuna.samplers.GridSampler"
    _partial_: bool = True


@dataclass
class CmaEsSamplerConfig(SamplerConfig):
    """Needs the ``cmaes`` package (``pip install cmaes``)."""

    _target_: str = "optuna.samplers.CmaEsSampler"
    x0: dict[str, Any] | None = None
    sigma0: float | None = None
    n_startup_trials: int = 1
    restart_strategy: str | None = None  # ipop | bipop
    popsize: int | None = None
    inc_popsize: int = -1
    use_separable_cma: bool = False
    with_margin: bool = False
    lr_adapt: bool = False
    consider_pruned_trials: bool = False


@dataclass
class NSGAIISamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.NSGAIISampler"
    population_size: int = 50
    mutation_prob: float | None = None
    crossover_prob: float = 0.9
    swapping_prob: float = 0.5


@dataclass
class QMCSamplerConfig(SamplerConfig):
    """Needs ``scipy``."""

    _target_: str = "optuna.samplers.QMCSampler"
    qmc_type: str = "sobol"  # sobol | halton
    scramble: bool = False


@dataclass
class GPSamplerConfig(SamplerConfig):
    """Needs ``torch`` and ``scipy`` (``pip install torch scipy``); checked before a sweep."""

    _target_: str = "optuna.samplers.GPSampler"
    n_startup_trials: int = 10
    deterministic_objective: bool = False


# hydra/sweeper/sampler=<name>
SAMPLERS: dict[str, type[SamplerConfig]] = {
    "tpe": TPESamplerConfig, "random": RandomSamplerConfig, "grid": GridSamplerConfig,
    "cmaes": CmaEsSamplerConfig, "nsgaii": NSGAIISamplerConfig, "qmc": QMCSamplerConfig,
    "gp": GPSamplerConfig, "motpe": MOTPESamplerConfig,
}


@dataclass
class PrunerConfig:
    """A trial's intermediate values are its fold scores as folds finish (the running mean;
    Wilcoxon: each fold's own score): a pruner stops a trial between folds."""

    _target_: str = MISSING


@dataclass
class NopPrunerConfig(PrunerConfig):
    _target_: str = "optuna.pruners.NopPruner"


@dataclass
class MedianPrunerConfig(PrunerConfig):
    _target_: str = "optuna.pruners.MedianPruner"
    n_startup_trials: int = 5
    n_warmup_steps: int = 0
    interval_steps: int = 1
    n_min_trials: int = 1


@dataclass
class PercentilePrunerConfig(MedianPrunerConfig):
    _target_: str = "optuna.pruners.PercentilePruner"
    percentile: float = 25.0  # a trial below the 25th percentile of the others at a step stops


@dataclass
class SuccessiveHalvingPrunerConfig(PrunerConfig):
    _target_: str = "optuna.pruners.SuccessiveHalvingPruner"
    min_resource: Any = "auto"  # an int, or auto
    reduction_factor: int = 4
    min_early_stopping_rate: int = 0
    bootstrap_count: int = 0


@dataclass
class HyperbandPrunerConfig(PrunerConfig):
    _target_: str = "optuna.pruners.HyperbandPruner"
    min_resource: int = 1
    max_resource: Any = "auto"  # an int, or auto
    reduction_factor: int = 3
    bootstrap_count: int = 0


@dataclass
class WilcoxonPrunerConfig(PrunerConfig):
    _target_: str = "optuna.pruners.WilcoxonPruner"
    p_threshold: float = 0.1
    n_startup_steps: int = 2


# hydra/sweeper/pruner=<name>
PRUNERS: dict[str, type[PrunerConfig]] = {
    "nop": NopPrunerConfig, "median": MedianPrunerConfig, "percentile": PercentilePrunerConfig,
    "successive_halving": SuccessiveHalvingPrunerConfig, "hyperband": HyperbandPrunerConfig,
    "wilcoxon": WilcoxonPrunerConfig,
}


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.runner_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    # the sampler stays a config: the sweeper instantiates it once it knows the study (a resumed
    # seeded sampler gets a shifted seed; the grid sampler gets its grid)
    _recursive_: bool = False
    defaults: list[Any] = field(default_factory=lambda: [{"sampler": "tpe"}, {"pruner": "nop"}])
    sampler: SamplerConfig = MISSING
    # stops a trial between its folds when it cannot win (runner.sweep.Reporter); nop: never
    pruner: PrunerConfig = MISSING
    # the task function's return value (runner: evaluation.primary) is maximized by default;
    # a list ([maximize, minimize]) makes a multi-objective study, one direction per value the
    # task returns (runner: evaluation.objectives). Any: OmegaConf has no enum-or-list type.
    direction: Any = Direction.maximize
    # null: sqlite:///outputs/optuna.db; any Optuna storage URL works
    storage: str | None = None
    # null: hydra.job.name. Running the same command again resumes the study of this name.
    study_name: str | None = None
    # true: when the stored study has another search space or base config, start a new study
    # beside it (<name>-2, -3, ...) instead of refusing
    new_study: bool = False
    # total trials of the study, across interruptions (interrupted trials do not count)
    n_trials: int = 20
    # trials run at once, in threads sharing the SparkSession (the official plugin's default,
    # 2). Spark shares the executors between them (FAIR pools, a job group per trial). Trials
    # are told in the order they were asked, so a seeded sweep is the same with any n_jobs
    # run after run (not the same as with another n_jobs).
    n_jobs: int = 2
    # the sweep stops once failed trials exceed this fraction of n_trials
    max_failure_rate: float = 0.0
    # key -> Hydra override grammar: choice(...), range(a,b[,step]), interval(a,b),
    # int(interval(a,b)), tag(log, ...); plain values are fixed for every trial
    params: dict[str, str] | None = None
    # dotted path to a function f(cfg, trial), called after each ask as in the official plugin:
    # it may suggest more parameters (trial.suggest_*), which become overrides of the trial
    # (a "+key" name adds a key); cfg is the sweep's config, fixed values are trial.user_attrs
    custom_search_space: str | None = None


def register() -> None:
    cs = ConfigStore.instance()
    cs.store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="runner")
    for name, node in SAMPLERS.items():
        cs.store(group="hydra/sweeper/sampler", name=name, node=node, provider="runner")
    for name, pruner in PRUNERS.items():
        cs.store(group="hydra/sweeper/pruner", name=name, node=pruner, provider="runner")


register()  # Hydra imports every module under hydra_plugins when it looks for plugins
