"""Where the data is and what format it is in, told without the JVM.

``data.path`` may be a packaged file (``pkg://``), a local file or folder, or a remote URL;
``data.format`` may be left null, and is then told by the name's ending, a folder's files or a
file's first bytes. ``check_files`` refuses a local input Spark would read wrongly or in part.
"""

from __future__ import annotations

import os
from importlib.resources import files
from urllib.parse import urlparse

from runner.errors import RunnerError

# Data file name endings per data.format, checked in a local data.path directory; each may carry
# a Hadoop codec's ending (Spark reads those compressed). Formats not listed are not checked.
DATA_ENDINGS = {
    "csv": (".csv", ".tsv"),
    "json": (".json", ".jsonl", ".ndjson"),
    "parquet": (".parquet",),
    "orc": (".orc",),
    "avro": (".avro",),
}
CODEC_ENDINGS = ("", ".gz", ".bz2", ".deflate", ".lz4", ".snappy", ".zst")
# the first bytes of a file in each binary format: a data file with no known ending is sniffed
MAGIC = {b"PAR1": "parquet", b"ORC": "orc", b"Obj\x01": "avro"}
_SHOWN = 3  # files named in a message


def resolve_path(path: str) -> str:
    """Turn ``pkg://package/file`` into a file path and check that local files exist."""
    if path.startswith("pkg://"):
        package, _, name = path[len("pkg://") :].partition("/")
        return str(files(package).joinpath(name))
    scheme = urlparse(path).scheme
    if scheme in ("", "file"):
        local = urlparse(path).path if scheme else path
        if not os.path.exists(local):
            raise RunnerError(f"data.path: file not found: {local}")
        return os.path.abspath(local)
    return path


def format_of(path: str, given: str | None) -> str:
    """``data.format`` if given, else the format a local or remote path's name says (codec
    endings allowed: ``x.csv.gz``), the format of a local folder's data files, or for a local file
    with no known ending the one its first bytes say (CSV when none)."""
    if given:
        return str(given)
    local = urlparse(path).path if urlparse(path).scheme in ("", "file") else None
    if local is not None and os.path.isdir(local):
        return _folder_format(local)
    named = _named_format(os.path.basename(urlparse(path).path.rstrip("/")))
    if named:
        return named
    if local is not None and os.path.isfile(local):
        with open(local, "rb") as stream:
            head = stream.read(4)
        return next((f for magic, f in MAGIC.items() if head.startswith(magic)), "csv")
    raise RunnerError(f"data.format: cannot tell the format of {path} from its name; set "
                      f"data.format (one of {', '.join(DATA_ENDINGS)})")


def _named_format(name: str) -> str | None:
    return next((f for f, ends in DATA_ENDINGS.items() if is_data(name, ends)), None)


def _folder_format(folder: str) -> str:
    """The format most of a folder's data files have (ties: the first in ``DATA_ENDINGS``, none:
    csv); ``check_files`` then names any file of another format, or says it holds none."""
    counts = dict.fromkeys(DATA_ENDINGS, 0)
    for _, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if d[0] not in "._"]
        for name in names:
            found = _named_format(name) if name[0] not in "._" else None
            if found:
                counts[found] += 1
    return max(counts, key=lambda f: counts[f])


def data_files(path: str, data_format: str) -> list[str]:
    """A local file, or a folder's data files in name order (what Spark reads)."""
    if os.path.isfile(path):
        return [path]
    endings = DATA_ENDINGS[data_format]
    return sorted(os.path.join(folder, n) for folder, dirs, names in os.walk(path)
                  for n in names if n[0] not in "._" and is_data(n, endings))


def is_data(name: str, endings: tuple[str, ...]) -> bool:
    """Whether a file name ends in one of ``endings``, with or without a codec's ending."""
    lowered = name.lower()
    return any(lowered.endswith(e + c) for e in endings for c in CODEC_ENDINGS)


def check_files(path: str, data_format: str) -> None:
    """Refuse a local input that Spark would read wrongly or in part, naming the files.

    In a directory Spark reads every file as ``data_format`` (a stray JSON or Parquet file becomes
    garbage rows or a failed job) and silently skips names starting with ``_`` or ``.`` (data left
    out); its own ``_SUCCESS`` and ``.crc`` files are fine. A single file is refused only when its
    name says it is another known format.
    """
    endings = DATA_ENDINGS.get(data_format.lower())
    if endings is None:
        return
    if os.path.isfile(path):
        other = [f for f, ends in DATA_ENDINGS.items() if f != data_format and is_data(path, ends)]
        if other and not is_data(path, endings):
            raise RunnerError(
                f"data.path: {path} looks like {other[0]}, not data.format={data_format}"
            )
        return
    bad, found = _scan(path, endings)
    if bad:
        more = f" (and {len(bad) - _SHOWN} more)" if len(bad) > _SHOWN else ""
        raise RunnerError(
            f"data.path: directory {path} holds {len(bad)} file(s) that are not {data_format} "
            f"data: {', '.join(bad[:_SHOWN])}{more}; move them out or point data.path at the "
            "data files"
        )
    if not found:
        raise RunnerError(f"data.path: directory {path} holds no {data_format} files")


def _scan(root: str, endings: tuple[str, ...]) -> tuple[list[str], int]:
    """Files under ``root`` that are not data (relative paths, why in brackets), data file count."""
    bad: list[str] = []
    found = 0
    for folder, dirs, names in os.walk(root):
        rel = os.path.relpath(folder, root)
        for name in sorted(dirs):
            if name[0] in "._":
                bad.append(f"{os.path.normpath(os.path.join(rel, name))}/ (Spark skips it)")
                dirs.remove(name)
        for name in sorted(names):
            shown = os.path.normpath(os.path.join(rel, name))
            if name == "_SUCCESS" or name.endswith(".crc"):
                continue
            if name[0] in "._":
                bad.append(f"{shown} (Spark skips it)")
            elif is_data(name, endings):
                found += 1
            else:
                bad.append(shown)
    return bad, found
