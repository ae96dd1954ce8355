"""Paths a user writes relative to where they launch ``runner``, kept meaning that.

With ``hydra.job.chdir=true`` a job runs inside its output folder, so a relative ``data.path``
would be looked up there. The paths are made absolute against the launch directory before the
config is checked, for a run and for each trial of a sweep.
"""

from __future__ import annotations

import os
import re
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from runner import uris

# paths a user writes relative to where they launch runner (hydra.job.chdir: launch_relative)
LAUNCH_PATHS = ("data.path", "predict.input", "predict.output", "serving.model_uri")


def launch_relative(cfg: DictConfig, hydra: Any = None) -> None:
    """With ``hydra.job.chdir=true`` a job runs inside its output folder: relative paths the user
    wrote (``data.path``, ``predict.input``/``output``, ``serving.model_uri``, a relative sqlite
    or folder ``tracking.uri`` and the default store) are made absolute against the launch
    directory, so they mean what they meant on the command line, for a run and for each trial
    of a sweep (``hydra``: the sweep's own config, whose paths its parent run reads)."""
    if hydra is None and HydraConfig.initialized():
        hydra = HydraConfig.get()
    if hydra is None or not hydra.job.chdir:
        return
    from runner import tracking  # not at import: `runner --help` and completion need none

    launch = hydra.runtime.cwd
    with read_write(cfg), open_dict(cfg):
        for key in LAUNCH_PATHS:
            value = OmegaConf.select(cfg, key)
            if isinstance(value, str) and is_relative_path(value):
                OmegaConf.update(cfg, key, os.path.join(launch, value))
        uri = cfg.tracking.uri or os.environ.get("MLFLOW_TRACKING_URI")
        cfg.tracking.uri = (launch_uri(uri, launch) if uri
                            else f"sqlite:///{os.path.join(launch, tracking.DEFAULT_STORE)}")


def is_relative_path(value: str) -> bool:
    """A relative local path: no URI scheme (``pkg://``, ``models:/``, ``s3a://``), not absolute."""
    return bool(value) and not re.match(r"^[A-Za-z][\w+.-]*:", value) and not os.path.isabs(
        os.path.expanduser(value))


def launch_uri(uri: str, launch: str) -> str:
    """A tracking URI whose local path is relative, made absolute against ``launch``."""
    if uris.rebased(uri, launch) != uri:  # a relative sqlite:/// or file: path
        return uris.rebased(uri, launch)
    if uris.scheme(uri) or not is_relative_path(uri):  # a server, "databricks", a path
        return uri
    return os.path.join(launch, uri)
