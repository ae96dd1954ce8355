"""The data a task reads: where it is and its format (``formats``), its columns and their types
(``schema``), its classes (``labels``), the typed, checked and split training data
(``dataset``) and the inputs of batch scoring (``inputs``).

Everything that reads or checks user data lives here; the ML pipeline (``runner.pipeline``)
takes what this package returns.
"""

from runner.data.dataset import Dataset, check_config, load, settled
from runner.data.formats import format_of, resolve_path
from runner.data.labels import class_names_of, label_index_column
from runner.data.schema import feature_columns, quoted, reader_options, schema_of

__all__ = [
    "Dataset",
    "check_config",
    "class_names_of",
    "feature_columns",
    "format_of",
    "label_index_column",
    "load",
    "quoted",
    "reader_options",
    "resolve_path",
    "schema_of",
    "settled",
]
