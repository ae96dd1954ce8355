"""The Spark ML pipeline of a run: its stages checked and built from config (``stages``,
``column_rules``, ``features``, ``models``), put together (``assemble``), fitted (``fitting``)
and scored (``evaluate``). It takes the prepared data of ``runner.data``.
"""

from runner.pipeline.assemble import (
    LOWER_IS_BETTER,
    TRAIN_SECONDS,
    build_pipeline,
    check,
    label_column,
    model_inputs,
    positive_index,
    with_class_names,
)

__all__ = [
    "LOWER_IS_BETTER",
    "TRAIN_SECONDS",
    "build_pipeline",
    "check",
    "label_column",
    "model_inputs",
    "positive_index",
    "with_class_names",
]
