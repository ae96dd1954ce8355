"""A JVM-free scorer compiled from a fitted Spark PipelineModel.

``compile_pipeline`` reads the fitted model (pyspark and its JVM); the ``CompiledPipeline`` it
returns scores, saves and loads with numpy alone.
"""

from runner.compiled.compiler import compile_pipeline
from runner.compiled.frame import ScoringError, UnsupportedStage
from runner.compiled.pipeline import CompiledPipeline

__all__ = ["CompiledPipeline", "ScoringError", "UnsupportedStage", "compile_pipeline"]
