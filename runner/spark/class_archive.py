"""A JVM class-data archive (CDS) of Spark's classes, kept between local runs.

A cold local Spark run spends seconds loading and verifying the same ~10,000 classes from
Spark's jars. Java 17 can map them from an archive that a previous JVM wrote at exit
(``-XX:ArchiveClassesAtExit``, then ``-XX:SharedArchiveFile``): a penguins run drops from ~21 s
to ~16 s (``python benchmarks/cold_run.py``). The archive (~220 MB) is written once per Java,
pyspark and class path, by the first local session that finds none; that JVM writes it after
the run, while it exits (~15 s, in the background of a terminal). A JVM that cannot use an
archive (another Java, changed jars, a garbage file) ignores it and runs as without one; but a
truncated archive (a disk that filled up, a copy cut short) crashes the JVM with SIGBUS while it
maps it, so ``damaged`` checks the file against its own header first and such a file is deleted
(and written again by this run).

Only the driver JVM of a local master uses it (``spark.class_archive=false`` turns it off);
cluster executors and Spark Connect servers are not started by runner.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
from pathlib import Path

from runner import console

# the JVM's CDS notes (signed jars skipped, archive mismatches) are not the user's business
QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"


def cache_dir() -> Path:
    """``$RUNNER_CACHE_DIR``, else ``$XDG_CACHE_HOME/runner``, else ``~/.cache/runner``."""
    if os.environ.get("RUNNER_CACHE_DIR"):
        return Path(os.environ["RUNNER_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "runner"


def archive_path(java_description: str, class_path: str, jars: Path | None = None) -> Path:
    """Where the archive for this Java (``java -version`` output and binary) and class path
    (pyspark's ``jars`` folder, its path and each jar's name, size and mtime, plus the driver's
    extra class path) lives. The JVM maps an archive only for the jar paths, sizes and mtimes
    it was written with, and says nothing when they differ: a second virtualenv (or pyspark
    reinstalled) keyed like the first ran every job without the archive (a cold penguins run
    17.8 s instead of 11.3 s) and never wrote its own."""
    import pyspark

    jars = (jars or pyspark_jars()).resolve()
    key = "\n".join([java_description, pyspark.__version__, class_path, str(jars),
                     _signature(jars)])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir() / "jvm" / f"spark-{pyspark.__version__}-{digest}.jsa"


def _signature(jars: Path) -> str:
    """Each jar's name, size and mtime: what the JVM checks before it maps an archive."""
    listing = sorted(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
                     for p in jars.glob("*.jar"))
    return hashlib.sha256("\n".join(listing).encode()).hexdigest()


def pyspark_jars() -> Path:
    """The jars folder of the pyspark this process imports."""
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


# CDS archive header (JDK 17, include/cds.h): magic, crc, version, then 7 regions of 72 bytes
# whose file offset and used size (at +24 and +40) say how long the file must be
_MAGICS = (0xF00BABA2, 0xF00BABA8)  # static, dynamic archive
_LAYOUT_VERSION = 11
_REGIONS, _REGION_SIZE, _FIRST_REGION = 7, 72, 16


def damaged(archive: Path) -> str | None:
    """Why ``archive`` cannot be mapped (not an archive, truncated), or None when it looks whole
    or its header has a layout this check does not know (then the JVM checks it)."""
    try:
        with archive.open("rb") as file:
            head = file.read(_FIRST_REGION + _REGIONS * _REGION_SIZE)
            size = os.fstat(file.fileno()).st_size
    except OSError:
        return None
    if len(head) < 12 or struct.unpack_from("=I", head)[0] not in _MAGICS:
        return "not a class-data archive"
    if struct.unpack_from("=i", head, 8)[0] != _LAYOUT_VERSION or (
            len(head) < _FIRST_REGION + _REGIONS * _REGION_SIZE):
        return None
    end = 0
    for region in range(_REGIONS):
        offset, _, used = struct.unpack_from("=QQQ", head, _FIRST_REGION + region * _REGION_SIZE
                                             + 24)
        end = max(end, offset + used if used else 0)
    return f"truncated: {size} of {end} bytes" if size < end else None


def _discard_if_damaged(archive: Path) -> None:
    """Delete a damaged archive with a one-line note; this run then writes a new one."""
    why = damaged(archive)
    if why is None:
        return
    archive.unlink()
    console.note(f"deleted the damaged class archive {archive} ({why}); this run writes a new one")


def java_options(archive: Path, jars: Path | None = None) -> str:
    """The driver JVM's flags: map the archive when it is complete; else write it at exit when
    no other JVM is writing it (then ``claim`` must be called with the JVM's pid); else none,
    as when the cache directory cannot be written. ``jars``: the pyspark jars folder the
    archive is for (this process's by default), recorded beside an archive being written."""
    try:
        return _options(archive, (jars or pyspark_jars()).resolve())
    except OSError:
        return ""


def _options(archive: Path, jars: Path) -> str:
    lock = _lock(archive)
    if archive.exists() and not _writer_alive(lock):
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()  # its writer is done
        _discard_if_damaged(archive)
    if archive.exists() and not _writer_alive(lock):
        return f"-XX:SharedArchiveFile={archive} {QUIET}"
    if archive.exists() or not _take(lock):
        return ""  # another JVM is writing it: run without, as before
    _prune(archive, jars)
    _source(archive).write_text(f"{jars}\n{_signature(jars)}\n")
    return f"-XX:ArchiveClassesAtExit={archive} {QUIET}"


def _source(archive: Path) -> Path:
    """The file beside an archive naming the jars folder it was written for."""
    return archive.with_suffix(".jars")


def _prune(archive: Path, jars: Path) -> None:
    """Delete the archives no JVM will map again (each ~220 MB): those whose jars folder is
    gone (a deleted virtualenv) or holds other jars now (pyspark reinstalled or upgraded). Not
    one written for these same jars (another Java's), nor one whose writer still runs; a JVM
    mapping one keeps its pages."""
    for source in archive.parent.glob("*.jars"):
        old = source.with_suffix(".jsa")
        if old == archive:
            continue  # this run's own, being written
        with contextlib.suppress(OSError, ValueError):
            folder, _, signature = source.read_text().strip().partition("\n")
            written_for = Path(folder)
            if written_for.is_dir() and _signature(written_for) == signature.strip():
                continue
            if _writer_alive(_lock(old)):
                continue
            for stale in (old, _lock(old), source):
                stale.unlink(missing_ok=True)


def claim(archive: Path, jvm_pid: int) -> None:
    """Record which JVM writes the archive: until it exits, others neither map nor write it."""
    with contextlib.suppress(OSError):  # then this process's pid stays there: the same effect
        _lock(archive).write_text(str(jvm_pid))


def _lock(archive: Path) -> Path:
    return archive.with_suffix(".writer")


def _take(lock: Path) -> bool:
    """Create the writer file, unless a live JVM holds it (a dead writer's is taken over)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    if _writer_alive(lock):
        return False
    with contextlib.suppress(FileNotFoundError):
        lock.unlink()  # left by a JVM that is gone
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:  # another process took it this instant
        return False
    os.write(fd, str(os.getpid()).encode())  # until claim() names the JVM
    os.close(fd)
    return True


def _writer_alive(lock: Path) -> bool:
    try:
        pid = int(lock.read_text() or "0")
    except (FileNotFoundError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return _not_a_zombie(pid)


def _not_a_zombie(pid: int) -> bool:
    """An exited child not yet reaped still answers kill(pid, 0)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True  # no /proc (macOS): trust kill()
