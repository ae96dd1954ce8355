"""The data a task reads: resolved once into a ``DataSpec`` (``spec``: where it is and its
format, via ``formats``; its columns and their types, via ``schema``), checked before the JVM
starts (``checks``), its classes (``labels``), the typed, checked and split training data
(``dataset``) and the inputs of batch scoring (``inputs``).

Everything that reads or checks user data lives here; the ML pipeline (``runner.pipeline``)
takes what this package returns.
"""

from runner.data.checks import check_config
from runner.data.dataset import Dataset, load, settled
from runner.data.labels import label_index_column
from runner.data.schema import quoted
from runner.data.spec import DataSpec, Split, for_task, typed

__all__ = [
    "DataSpec",
    "Dataset",
    "Split",
    "check_config",
    "for_task",
    "label_index_column",
    "load",
    "quoted",
    "settled",
    "typed",
]
