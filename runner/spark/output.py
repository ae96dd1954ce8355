"""``runner predict``'s output written atomically: a hidden sibling first, moved into place.

A failed or interrupted Spark write leaves partial files behind; written to a temp sibling and
renamed when complete, the output is either whole or absent, so a rerun of the same command
works. Temps of runs that were killed mid-write are removed by the next run. Local paths only:
other filesystems get Spark's own write.
"""

from __future__ import annotations

import os
import shutil
import uuid
from typing import Any

from runner import uris
from runner.errors import RunnerError


class WriteFailed(Exception):
    """Spark's write of ``path`` failed with ``cause`` (a row the job rejected, an unknown
    format, a path that exists): the caller knows what it means to the user."""

    def __init__(self, path: str, cause: Exception) -> None:
        super().__init__(f"{path}: {cause}")
        self.path = path
        self.cause = cause


def local_path(path: str) -> str | None:
    """The local filesystem path of a plain or file: path; None for other filesystems."""
    if path.startswith("file:/"):  # file:/abs, file:///abs (file://host/ is not local)
        return uris.local_path(path)
    if path.startswith("file:"):  # file:rel/out, relative to the cwd as Hadoop reads it
        return path[len("file:"):]
    return None if "://" in path else path


def exists_error(output: str) -> RunnerError:
    """The error for an output that is there already in errorifexists mode."""
    return RunnerError(f"predict.output={output} exists: choose another path or set "
                       "predict.mode=overwrite (or append, ignore)")


def write_atomically(scored: Any, output: str, output_format: str, mode: str) -> None:
    """Write ``scored`` to a hidden sibling of ``output``, then move it into place (Spark's save
    ``mode``). Raises WriteFailed when Spark's write fails, RunnerError when the output exists."""
    local = local_path(output)
    if local is None:
        write(scored, output, output_format, mode)
        return
    target = os.path.abspath(local)
    if os.path.exists(target) and mode in ("ignore", "errorifexists"):
        if mode == "ignore":
            return
        raise exists_error(output)
    _remove_stale_temps(target)
    temp = f"{_temp_prefix(target)}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        write(scored, temp, output_format, "errorifexists")
        publish(temp, target, mode)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _temp_prefix(target: str) -> str:
    head, tail = os.path.split(target)
    return os.path.join(head, f".{tail}.runner-tmp-")


def _remove_stale_temps(target: str) -> None:
    """Temps of earlier runs that were killed mid-write (their process is gone)."""
    prefix = _temp_prefix(target)
    head, name = os.path.split(prefix)
    for entry in os.listdir(head or ".") if os.path.isdir(head or ".") else []:
        if not entry.startswith(name):
            continue
        pid = entry[len(name):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(os.path.join(head, entry), ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def publish(temp: str, target: str, mode: str) -> None:
    """Move a finished write into place: a rename (overwrite: the old output set aside first,
    removed after); append moves the new data files into an existing output."""
    if not os.path.exists(target):
        os.rename(temp, target)
    elif mode == "append":
        for entry in os.listdir(temp):
            if not entry.startswith(("_", ".")):
                os.rename(os.path.join(temp, entry), os.path.join(target, entry))
    elif mode == "overwrite":
        old = f"{temp}.old"
        os.rename(target, old)
        os.rename(temp, target)
        (shutil.rmtree if os.path.isdir(old) else os.remove)(old)
    else:  # created meanwhile by someone else
        raise RunnerError(f"predict.output={target} appeared while scoring: choose another path "
                          "or set predict.mode=overwrite")


def write(scored: Any, output: str, output_format: str, mode: str) -> None:
    """Spark's own write; its failure raised as WriteFailed."""
    # "error" is the same mode; Spark Connect's writer accepts only that spelling of it
    mode = "error" if mode == "errorifexists" else mode
    try:
        scored.write.format(output_format).mode(mode).save(output)
    except Exception as exc:  # AnalysisException (path exists) or the job rejecting rows
        raise WriteFailed(output, exc) from exc


def rows_written(session: Any, output: str, output_format: str) -> int | None:
    """Rows written, read back from the output's metadata (parquet and orc only: cheap there)."""
    if output_format not in ("parquet", "orc"):
        return None
    return int(session.read.format(output_format).load(output).count())
