"""``runner [overrides] --show-schema``: the columns and types a run would read."""

from __future__ import annotations

from runner import console


def show_schema(overrides: list[str]) -> None:
    """The columns and types a run would read, one line each, the label marked and each
    column's missing cells counted, with the markers seen (``data.na_values``); local files
    need no JVM (``runner.data.schema.schema_of``)."""
    from hydra import compose, initialize_config_module

    from runner.data.missing import counts
    from runner.data.schema import schema_of

    with initialize_config_module(config_module="runner.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    missing = counts(cfg.data)
    for column, type_ in schema_of(cfg.data).items():
        notes = ["label"] if column == cfg.data.label else []
        count, seen = missing.get(column, (0, []))
        if count:
            notes.append(f"{count} missing ({', '.join(map(repr, seen))})")
        console.out(f"{column}: {type_}" + (f"  # {', '.join(notes)}" if notes else ""))
