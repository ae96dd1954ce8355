"""One sweep per study at a time, and one process at a time creating an Optuna storage.

sqlite storages: a lock file beside the database, ``fcntl.flock``-ed for as long as the sweep
runs. The kernel drops a flock when its owner dies, kill -9 included, so a killed owner's lock
is taken over by the next run with no stale-lock guessing; the file is never deleted (deleting
it would let two processes lock two different files). The owner writes who it is into the file
(pid, host, start time, command) so that a refused copy can name it.

Other RDB URLs (PostgreSQL, MySQL) have no shared file: the owner is kept in a study user
attribute refreshed by a heartbeat thread, and a copy finding a fresh heartbeat from another live
owner is refused (see ``_heartbeat_lock``). An owner whose heartbeat is older than
``STALE_SECONDS``, or whose pid is dead on this host, is taken over.

No ``from __future__ import annotations`` here: see the package docstring.
"""

import contextlib
import datetime
import fcntl
import json
import os
import re
import shlex
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO

from runner import uris
from runner.errors import RunnerError

OWNER_ATTR = "runner.sweep_owner"
BEAT_SECONDS = 10.0
STALE_SECONDS = 60.0


def sqlite_path(storage: str) -> str | None:
    """The database file of a ``sqlite:///`` URL, None for other storages or in-memory sqlite."""
    return uris.sqlite_file(storage, options=True)


def owner_info() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "since": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "command": shlex.join([os.path.basename(sys.argv[0]), *sys.argv[1:]])}


def describe(owner: dict[str, Any]) -> str:
    if not owner:
        return "a process that has not said who it is yet"
    return (f"pid {owner.get('pid')} on {owner.get('host')} since {owner.get('since')}: "
            f"{owner.get('command')}")


@contextlib.contextmanager
def creating(storage: str) -> Iterator[None]:
    """Hold the storage's creation lock: Optuna's table creation and schema stamping, run by two
    processes at once, can fail with 'table ... already exists' (it checks, then creates)."""
    path = sqlite_path(storage)
    if path is None:
        yield
        return
    with open(path + ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # short: wait for the other creator
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class SweepLock:
    """Held while a sweep of one study runs; ``acquire`` refuses with who holds it."""

    def __init__(self, storage: str, study_name: str) -> None:
        self.storage, self.study_name = storage, study_name
        self._handle: TextIO | None = None
        self._stop = threading.Event()

    def acquire(self) -> None:
        path = sqlite_path(self.storage)
        if path is not None:
            self._flock(f"{path}.{_safe(self.study_name)}.sweep.lock")

    def release(self) -> None:
        self._stop.set()
        if self._handle is not None:
            self._handle.close()  # closing drops the flock
            self._handle = None

    def _flock(self, path: str) -> None:
        handle = open(path, "a+")  # noqa: SIM115 - kept open for the sweep's life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = _parse(handle.read())
            handle.close()
            raise RunnerError(self._refusal(owner)) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(owner_info()) + "\n")
        handle.flush()
        self._handle = handle

    def _refusal(self, owner: dict[str, Any]) -> str:
        return (f"study {self.study_name!r} in {self.storage} is being swept by another "
                f"process ({describe(owner)}); wait for it to end or stop it, then run this "
                "command again to resume the study")

    def heartbeat(self, study: Any) -> None:
        """For storages without a lock file: refuse a study another live sweep is beating in,
        else beat in it from a daemon thread until ``release``."""
        if sqlite_path(self.storage) is not None:
            return
        owner = study.user_attrs.get(OWNER_ATTR) or {}
        if owner and _alive(owner) and owner.get("pid") != os.getpid():
            raise RunnerError(self._refusal(owner))
        mine = owner_info()
        study.set_user_attr(OWNER_ATTR, {**mine, "beat": time.time()})
        threading.Thread(target=self._beat, args=(study, mine), name="sweep-heartbeat",
                         daemon=True).start()

    def _beat(self, study: Any, mine: dict[str, Any]) -> None:
        while not self._stop.wait(BEAT_SECONDS):
            with contextlib.suppress(Exception):  # a storage hiccup: the next beat retries
                study.set_user_attr(OWNER_ATTR, {**mine, "beat": time.time()})
        with contextlib.suppress(Exception):
            study.set_user_attr(OWNER_ATTR, {})


def _alive(owner: dict[str, Any]) -> bool:
    """An owner (heartbeat lock) still sweeping: a recent beat, and its pid alive if local."""
    if time.time() - float(owner.get("beat", 0)) > STALE_SECONDS:
        return False
    if owner.get("host") == socket.gethostname():
        try:
            os.kill(int(owner.get("pid", 0)), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    return True


def _parse(text: str) -> dict[str, Any]:
    try:
        owner = json.loads(text)
    except ValueError:  # the owner is writing it this instant
        return {}
    return owner if isinstance(owner, dict) else {}


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)
