"""Every call into a private (underscore) API of Hydra, MLflow, pyspark or Optuna, one module per
library. Each module names the versions it was checked against; tests/test_compat.py and
tests/test_compat_mlflow.py exercise every function against the installed library, so an upgrade
that moves one fails there, loudly, and not somewhere deep in a run. Nothing outside this package
touches a library's private names (tests/test_layout.py checks it)."""
