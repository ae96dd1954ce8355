"""A lab-shaped compiled pipeline with made-up fitted values, for tests of the compiled scorer
and of serving that need no Spark (this module imports no pyspark)."""

from __future__ import annotations

from runner.compiled import CompiledPipeline
from runner.compiled.classifiers import LogisticRegression
from runner.compiled.features import MinMaxScaler, StringIndexer, VectorAssembler

ISLANDS = ["Biscoe", "Dream", "Torgersen"]
LAB_INPUTS = {"Island": "string", "CulmenLength": "double", "FlipperLength": "double"}


def lab_shaped_pipeline(handle_invalid: str = "error") -> CompiledPipeline:
    """StringIndexer -> VectorAssembler -> MinMaxScaler -> VectorAssembler -> multinomial LR,
    with ``handle_invalid`` for the indexer and the first assembler."""
    stages = [
        StringIndexer(["Island"], ["IslandIdx"], [ISLANDS], handle_invalid, [False]),
        VectorAssembler(["CulmenLength", "FlipperLength"], "numeric", handle_invalid),
        MinMaxScaler("numeric", "scaled", [32.0, 172.0], [60.0, 231.0], 0.0, 1.0),
        VectorAssembler(["IslandIdx", "scaled"], "features", "error"),
        LogisticRegression("features", "prediction", "rawPrediction", "probability", None,
                           [[1.0, -2.0, -1.0], [-1.0, 1.0, 3.0], [0.5, 2.0, -1.0]],
                           [0.1, -0.2, 0.0], True, 0.5),
    ]
    return CompiledPipeline(dict(LAB_INPUTS), stages, "prediction", "rawPrediction",
                            "probability", ["Adelie", "Gentoo", "Chinstrap"])
