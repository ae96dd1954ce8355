# Checked against pyspark 4.3.0 (pyproject pins pyspark[connect]>=4.3,<4.4). tests/test_compat.py
# names this version when a call breaks.
"""pyspark's private names (and the py4j objects reached through them) that runner uses, one typed
function each, so that a pyspark upgrade that moves one breaks here (tests/test_compat.py) and
nowhere else. pyspark is imported inside the functions: runner's JVM-free paths import this
module without it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark import SparkContext
    from pyspark.sql import SparkSession
    from pyspark.sql.types import DataType


def mappable_types() -> dict[str, type[DataType]]:
    """pyspark's own table of DDL type names -> its type classes (``integer`` -> IntegerType),
    which it uses to parse schema strings in Python."""
    from pyspark.sql import types

    return dict(types._all_mappable_types)


def parameterized_type_patterns() -> tuple[re.Pattern[str], ...]:
    """pyspark's patterns for the DDL types that take arguments: ``decimal(10,2)``,
    ``char(5)``, ``varchar(20)``."""
    from pyspark.sql import types

    return (types._FIXED_DECIMAL, types._LENGTH_CHAR, types._LENGTH_VARCHAR)


def is_live(session: SparkSession) -> bool:
    """The session is still the process's session: not stopped (its JVM context is gone) nor
    replaced by another ``getOrCreate``."""
    return type(session)._instantiatedSession is session and session._sc._jsc is not None


def active_context() -> SparkContext | None:
    """The process's running SparkContext, if any; never starts one (``getOrCreate`` would)."""
    from pyspark import SparkContext

    return SparkContext._active_spark_context


def gateway_pid(context: SparkContext) -> int | None:
    """The process id of the JVM that py4j started for this context (None when pyspark
    attached to a JVM it did not start)."""
    proc = getattr(context._gateway, "proc", None)
    return None if proc is None else int(proc.pid)


def clear_job_group(context: SparkContext) -> None:
    """Clear this thread's job group: pyspark has ``setJobGroup`` but no ``clearJobGroup``;
    the JVM context does."""
    context._jsc.clearJobGroup()


def activate_connect_session(session: Any) -> None:
    """Make a Spark Connect session the default and active one in this thread (Connect keeps the
    active session per thread, and ``getOrCreate`` in another thread does not set it)."""
    session._set_default_and_active_session(session)


def java_object(stage: Any) -> Any:
    """The py4j handle of a fitted ML stage's JVM object (a remote reference under Spark
    Connect), to read what pyspark does not expose, e.g. a tree's nodes."""
    return stage._java_obj


def send_params_to_jvm(stage: Any) -> None:
    """Send a new ML stage's params to its JVM object now (pyspark does it only at ``fit``), so
    that a bad value fails where the stage is built. A stage with no JVM object is left alone."""
    transfer = getattr(stage, "_transfer_params_to_java", None)
    if transfer is not None:
        transfer()
