"""Where the data is and what format it is in, told without the JVM.

``data.path`` may be a packaged file (``pkg://``), a local file or folder, or a remote URL;
``data.format`` may be left null, and is then told by the name's ending, a folder's files or a
file's first bytes. ``checks.check_files`` refuses a local input Spark would read wrongly or in
part.
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
    csv); ``checks.check_files`` then names any file of another format, or says it holds none."""
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
