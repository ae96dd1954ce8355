"""runner: a configuration-driven experiment runner for Spark ML."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("runner")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"
