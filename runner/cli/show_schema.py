"""``runner [overrides] --show-schema``: the columns and types a run would read."""

from __future__ import annotations

from runner import console


def show_schema(overrides: list[str]) -> None:
    """The columns and types a run would read, one line each, the label marked and each
    column's missing cells counted, with the markers seen (``data.na_values``); local files
    need no JVM (``runner.data.DataSpec``)."""
    from hydra import compose, initialize_config_module

    from runner.data import DataSpec
    from runner.data.missing import counts

    with initialize_config_module(config_module="runner.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    spec = DataSpec.resolve(cfg.data)
    missing = counts(spec)
    for column, type_ in spec.schema.items():
        notes = ["label"] if column == spec.label else []
        count, seen = missing.get(column, (0, []))
        if count:
            notes.append(f"{count} missing ({', '.join(map(repr, seen))})")
        console.out(f"{column}: {type_}" + (f"  # {', '.join(notes)}" if notes else ""))
