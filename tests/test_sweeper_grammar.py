"""The sweeper's grammar, samplers and custom search space, with no JVM and no subprocess: each
override maps to the Optuna distribution the official plugin gives it, and each mistake is a
one-line error naming the key before a sweep starts anything."""

from __future__ import annotations

import optuna
import pytest
from hydra import compose, initialize_config_module
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from hydra_plugins.runner_optuna_sweeper import config as config_mod
from hydra_plugins.runner_optuna_sweeper import samplers
from hydra_plugins.runner_optuna_sweeper import space as space_mod
from runner.config.schemas import register_configs
from runner.errors import RunnerError
from tests.conftest import make_config

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.parametrize(("override", "expected"), [
    # the brief's cases
    ("int(interval(5,20))", IntDistribution(5, 20)),
    ("tag(log, int(interval(1,1000)))", IntDistribution(1, 1000, log=True)),
    ("tag(log, interval(1e-4,1))", FloatDistribution(1e-4, 1, log=True)),
    ("range(1,10,2)", IntDistribution(1, 9, step=2)),
    ("choice(a,b,c)", CategoricalDistribution(["a", "b", "c"])),
    # the official plugin's own table (its tests), in optuna 5's distribution names
    ("choice(1,2)", CategoricalDistribution([1, 2])),
    ("choice(true, false)", CategoricalDistribution([True, False])),
    ("choice('hello', 'world')", CategoricalDistribution(["hello", "world"])),
    ("range(1,3)", IntDistribution(1, 3)),
    ("interval(1, 5)", FloatDistribution(1, 5)),
    ("int(interval(1, 5))", IntDistribution(1, 5)),
    ("tag(log, interval(1, 5))", FloatDistribution(1, 5, log=True)),
    ("tag(log, int(interval(1, 5)))", IntDistribution(1, 5, log=True)),
    ("range(0.5, 5.5, step=1)", FloatDistribution(0.5, 5.5, step=1)),
    # its docs page's examples
    ("int(interval(-5.0, 5.0))", IntDistribution(-5, 5)),
    ("range(-5.5, 5.5, step=0.5)", FloatDistribution(-5.5, 5.5, step=0.5)),
    ("range(-5.0, 5.0)", FloatDistribution(-5.0, 5.0, step=1.0)),
])
def test_override_maps_to_the_official_plugins_distribution(override: str, expected) -> None:
    assert space_mod.parse([f"key={override}"]).distributions == {"key": expected}


def test_shuffled_range_is_categorical_and_plain_values_are_fixed() -> None:
    space = space_mod.parse(["a=shuffle(range(1,4))", "b=5", "c=choice([4],[8, 4])"])
    assert set(space.distributions["a"].choices) == {1, 2, 3}
    assert space.distributions["c"] == CategoricalDistribution(["[4]", "[8,4]"])
    assert space.fixed == {"b": "5"}


def test_int_interval_samples_ints() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    dists = space_mod.parse(["model.maxIter=int(interval(5,20))",
                             "model.tol=tag(log, int(interval(1,1000)))"]).distributions
    for _ in range(20):
        params = study.ask(dists).params
        assert all(isinstance(v, int) for v in params.values())
        assert 5 <= params["model.maxIter"] <= 20
        assert 1 <= params["model.tol"] <= 1000


@pytest.mark.parametrize(("override", "message"), [
    ("interval(1.0,0.1)", "low 1.0 is above high 0.1"),
    ("int(interval(20,5))", "low 20 is above high 5"),
    ("range(10,1,-1)", "low 10 is above high 1"),
    ("range(1,10,0)", "step 0 must be positive"),
    ("tag(log, interval(0,1))", "log scale needs a low bound above 0, not 0.0"),
    ("tag(log, int(interval(-1,10)))", "log scale needs a low bound above 0, not -1"),
    ("tag(log, choice(1,10))", "log scale needs interval(...) or range(...)"),
    ("tag(log, range(1,10,2))", "no log scale with a step"),
    ("choice()", "empty choice is not legal"),
    ("tag(lg, interval(0,1))", "unknown tag lg"),
    ("tag(log, shuffle, interval(1,2))", "unknown tag shuffle"),
    ("int(interval(5.5,20))", "int() of 5.5, which is not a whole number"),
    ("int(range(1,10,1.5))", "int() of 1.5, which is not a whole number"),
    ("int(choice(1,2.5))", "int() of 2.5, which is not a whole number"),
    ("interval(0,inf)", "bounds must be finite"),
])
def test_a_bad_range_is_one_line_naming_the_key(override: str, message: str) -> None:
    with pytest.raises(RunnerError) as error:
        space_mod.parse(["model.ok=choice(1,2)", f"model.bad={override}"])
    text = str(error.value)
    assert text.startswith(f"model.bad={override}: ")
    assert message in text
    assert "\n" not in text


def test_a_float_distribution_on_an_int_key_is_refused() -> None:
    cfg = make_config()
    space_mod.check_types(space_mod.parse(["model.maxIter=int(interval(5,20))",
                                           "model.regParam=interval(0.01,1)",
                                           "+x=interval(0,1)"]), cfg)
    with pytest.raises(RunnerError, match=r"model.maxIter is an integer.*"
                                          r"int\(interval\(5,20\)\)"):
        space_mod.check_types(space_mod.parse(["model.maxIter=interval(5,20)"]), cfg)


def _sweeper_config(overrides: list[str]) -> DictConfig:
    register_configs()
    with initialize_config_module(config_module="runner.conf", version_base="1.3"):
        return compose(config_name="config", return_hydra_config=True,
                       overrides=["hydra/sweeper=optuna", *overrides])


def _build(overrides: list[str], existing: int = 0):
    cfg = _sweeper_config(overrides)
    space = space_mod.parse(["model.maxIter=int(interval(5,20))", "model.family=choice(a,b)"])
    group = cfg.hydra.runtime.choices.get("hydra/sweeper/sampler")
    return samplers.build(cfg.hydra.sweeper.sampler, space, existing, group)


@pytest.mark.parametrize(("name", "cls"), [
    ("tpe", "TPESampler"), ("random", "RandomSampler"), ("cmaes", "CmaEsSampler"),
    ("grid", "GridSampler"), ("nsgaii", "NSGAIISampler"), ("qmc", "QMCSampler"),
    ("motpe", "TPESampler"),
])
@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_each_sampler_option_builds_its_optuna_sampler(name: str, cls: str) -> None:
    sampler = _build([f"hydra/sweeper/sampler={name}", "hydra.sweeper.sampler.seed=3"])
    assert type(sampler) is getattr(optuna.samplers, cls)


def test_gp_sampler_builds_or_names_the_package_it_lacks() -> None:
    import importlib.util

    missing = [p for p in ("torch", "scipy") if importlib.util.find_spec(p) is None]
    if not missing:
        assert type(_build(["hydra/sweeper/sampler=gp"])) is optuna.samplers.GPSampler
        return
    with pytest.raises(RunnerError) as error:
        _build(["hydra/sweeper/sampler=gp"])
    assert str(error.value) == (f"hydra.sweeper.sampler: GPSampler needs the package(s) "
                                f"{', '.join(missing)}: pip install {' '.join(missing)}")


def test_sampler_options_keep_the_official_keys() -> None:
    sweeper = _sweeper_config(["hydra/sweeper/sampler=nsgaii"]).hydra.sweeper
    assert sweeper.sampler.population_size == 50
    assert sweeper.custom_search_space is None
    assert set(config_mod.SAMPLERS) >= {"tpe", "random", "cmaes", "grid", "nsgaii", "motpe",
                                        "qmc", "gp"}


def test_a_target_override_is_checked_before_anything_runs() -> None:
    # the tpe option's defaults are not the user's: RandomSampler goes without them
    target = "hydra.sweeper.sampler._target_="
    assert type(_build([target + "optuna.samplers.RandomSampler"])) is optuna.samplers.RandomSampler
    cases = {
        "optuna.samplers.Nope": "cannot import it",
        "collections.OrderedDict": r"not an Optuna sampler \(a subclass of optuna.samplers",
    }
    for value, message in cases.items():
        with pytest.raises(RunnerError, match=message):
            _build([target + value])
    with pytest.raises(RunnerError) as error:  # set by the user: not dropped
        _build([target + "optuna.samplers.RandomSampler",
                "hydra.sweeper.sampler.n_startup_trials=3"])
    assert str(error.value).startswith(
        "hydra.sweeper.sampler: RandomSampler takes no n_startup_trials (it takes seed)")
    with pytest.raises(RunnerError, match="NSGAIISampler: `crossover_prob` must be"):
        _build(["hydra/sweeper/sampler=nsgaii", "hydra.sweeper.sampler.crossover_prob=3"])


def test_a_resumed_seeded_sampler_gets_a_shifted_seed() -> None:
    first = _build(["hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=3"])
    resumed = _build(["hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=3"], 5)
    again = optuna.samplers.RandomSampler(seed=8)
    assert resumed._rng.rng.random() == again._rng.rng.random()
    assert first._rng.rng.random() == optuna.samplers.RandomSampler(seed=3)._rng.rng.random()


def configure(cfg: DictConfig, trial: optuna.Trial) -> None:
    """The official docs' custom search space, on runner's keys: elasticNetParam within
    ``max_gap`` of regParam, and a new key."""
    reg = trial.params["model.regParam"]
    trial.suggest_float("model.elasticNetParam", max(0.0, reg - cfg.max_gap),
                        min(1.0, reg + cfg.max_gap))
    trial.suggest_int("+model.seed", 0, 9)


def fails(cfg: DictConfig, trial: optuna.Trial) -> None:
    raise KeyError("no_such_key")


def suggests_a_fixed_key(cfg: DictConfig, trial: optuna.Trial) -> None:
    assert trial.user_attrs["model.maxIter"] == "7"  # the official plugin's user attrs
    trial.suggest_int("model.maxIter", 1, 9)


def test_custom_search_space_suggestions_become_overrides() -> None:
    path = f"{__name__}.configure"
    extend = space_mod.custom_search_space(path)
    space = space_mod.parse(["model.regParam=interval(0,1)", "model.maxIter=7"])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    cfg = OmegaConf.create({"max_gap": 0.1})
    for _ in range(10):
        trial = study.ask(space.distributions)
        space_mod.configure_trial(trial, space, extend, cfg, path)
        overrides = dict(o.split("=", 1) for o in space_mod.overrides(trial, space))
        assert abs(float(overrides["model.elasticNetParam"])
                   - float(overrides["model.regParam"])) <= 0.1 + 1e-12
        assert 0 <= int(overrides["+model.seed"]) <= 9
        assert overrides["model.maxIter"] == "7"
        study.tell(trial, 0.5)


@pytest.mark.parametrize(("path", "message"), [
    ("tests.no_such_module.configure", "cannot import it (Are you sure that 'no_such_module'"),
    ("tests.test_sweeper_grammar.nope", "'nope' is importable from module 'tests.test_sweeper"),
    ("tests.test_sweeper_grammar.optuna", "a module, not a function f(cfg, trial)"),
    (".custom-search-space-objective.configure", "Relative imports are not supported"),
])
def test_a_bad_custom_search_space_path_is_one_line(path: str, message: str) -> None:
    with pytest.raises(RunnerError) as error:
        space_mod.custom_search_space(path)
    assert str(error.value).startswith(f"hydra.sweeper.custom_search_space={path}: ")
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(("function", "message"), [
    ("fails", "KeyError: 'no_such_key'"),
    ("suggests_a_fixed_key", "suggested model.maxIter, which the command fixes"),
])
def test_a_custom_search_space_that_fails_is_one_line(function: str, message: str) -> None:
    path = f"{__name__}.{function}"
    space = space_mod.parse(["model.regParam=interval(0,1)", "model.maxIter=7"])
    trial = optuna.create_study().ask(space.distributions)
    with pytest.raises(RunnerError, match=message):
        space_mod.configure_trial(trial, space, space_mod.custom_search_space(path),
                                  OmegaConf.create({}), path)


@pytest.mark.parametrize("name", ["penguins_lr", "penguins_rf", "penguins_gbt", "penguins_mlp"])
def test_shipped_search_spaces_pass_the_checks(name: str) -> None:
    cfg = _sweeper_config([f"hparams_search={name}"])
    space = space_mod.parse([f"{k}={v}" for k, v in cfg.hydra.sweeper.params.items()])
    space_mod.check_types(space, cfg)
    group = cfg.hydra.runtime.choices.get("hydra/sweeper/sampler")
    assert samplers.build(cfg.hydra.sweeper.sampler, space, 0, group) is not None
