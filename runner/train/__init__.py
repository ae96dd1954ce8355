"""The train task: one run, or the steps a sweep composes its own way.

Modules: ``assemble`` (checks, the pipeline and what it can measure, from config and data),
``steps`` (prepare -> fit -> evaluate_and_log; ``run`` composes them for a single run),
``evaluation`` (scoring and the metrics logged), ``selection`` (a sweep trial scored on
validation folds, never the test split), ``publish`` (the model logged, registered,
aliased), ``summary`` (what a single run prints at its end).
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
from runner.train.publish import input_example, log_fitted_model, promote
from runner.train.steps import (
    TrainResult,
    evaluate_and_log,
    fit,
    prefetch,
    prepare,
    result,
    run,
)
from runner.train.summary import summary

__all__ = [
    "LOWER_IS_BETTER",
    "TRAIN_SECONDS",
    "TrainResult",
    "build_pipeline",
    "check",
    "evaluate_and_log",
    "fit",
    "input_example",
    "label_column",
    "log_fitted_model",
    "model_inputs",
    "positive_index",
    "prefetch",
    "prepare",
    "promote",
    "result",
    "run",
    "summary",
    "with_class_names",
]
