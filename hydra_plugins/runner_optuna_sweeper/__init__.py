"""runner's Optuna sweeper for Hydra: ``runner -m hydra/sweeper=optuna ...``.

It takes the keys of the released hydra-optuna-sweeper (which pins optuna < 3) and runs on
optuna 5's ask/tell API, with a resumable study in an sqlite file by default.

Hydra imports each module of this package on its own, outside sys.modules, when it scans for
plugins: modules here that define dataclasses must not use ``from __future__ import annotations``
(string annotations make ``dataclasses`` look the module up in sys.modules).
"""
