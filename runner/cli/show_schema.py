"""``runner [overrides] --show-schema``: the columns and types a run would read."""

from __future__ import annotations

from runner import console


def show_schema(overrides: list[str]) -> None:
    """The columns and types a run would read, one line each, the label marked; local files
    need no JVM (``runner.data.schema.schema_of``)."""
    from hydra import compose, initialize_config_module

    from runner.data.schema import schema_of

    with initialize_config_module(config_module="runner.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    for column, type_ in schema_of(cfg.data).items():
        console.out(f"{column}: {type_}" + ("  # label" if column == cfg.data.label else ""))
