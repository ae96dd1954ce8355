"""The command line: the ``runner`` console script (``runner.cli:main``) and the Hydra callback
conf/config.yaml names (``runner.cli.ConfigCheck``); both paths are public and stay.

``entry`` dispatches the task verb; ``app`` wires each task into Hydra; ``completion``,
``launch_paths``, ``error_lines`` and ``show_schema`` each do the one job they are named for.
"""

from runner.cli.app import ConfigCheck
from runner.cli.entry import main

__all__ = ["ConfigCheck", "main"]
