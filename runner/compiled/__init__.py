"""A JVM-free scorer compiled from a fitted Spark PipelineModel.

``compile_pipeline`` reads the fitted model (pyspark and its JVM); the ``CompiledPipeline`` it
returns scores, saves and loads with numpy alone.

The scorer's module names, written once here (``tests/test_layout.py`` checks they name this
package's modules): MLflow imports ``LOADER_MODULE`` from the copy of this package a logged
model carries (``SCORER_PACKAGE``), or ``LEGACY_LOADER_MODULE`` for models logged before the code
travelled with them.
"""

from runner.compiled.compiler import compile_pipeline
from runner.compiled.frame import ScoringError, UnsupportedStage
from runner.compiled.pipeline import CompiledPipeline

SCORER_PACKAGE = "runner_scorer"  # this package, as a logged model's code/ directory holds it
# What scoring imports (relative imports only, numpy and pandas outside), copied into the model:
# the compiler, which reads pyspark models, stays behind.
SCORER_MODULES = ("frame", "features", "classifiers", "trees", "pipeline", "pyfunc")
LOADER_MODULE = f"{SCORER_PACKAGE}.pyfunc"
LEGACY_LOADER_MODULE = f"{__name__}.pyfunc"
LOADER_MODULES = frozenset({LOADER_MODULE, LEGACY_LOADER_MODULE})

__all__ = [
    "LEGACY_LOADER_MODULE",
    "LOADER_MODULE",
    "LOADER_MODULES",
    "SCORER_MODULES",
    "SCORER_PACKAGE",
    "CompiledPipeline",
    "ScoringError",
    "UnsupportedStage",
    "compile_pipeline",
]
