"""runner's console lines: each one whole, even when processes share the stream."""

from __future__ import annotations

import os
import subprocess
import sys

WRITER = """
import sys
from runner import console
for _ in range(2000):
    console.say(f"runner serve (worker {sys.argv[1]}): not swapping in m version 3: " + "y" * 150)
"""


def test_processes_sharing_stderr_never_join_their_lines() -> None:
    """serve's workers write to one stderr: print() wrote a line and its newline apart, and
    two workers' lines came out joined (one in three, measured), which hid a refusal from
    anyone reading the log line by line."""
    read, write = os.pipe()
    workers = [subprocess.Popen([sys.executable, "-c", WRITER, str(i)], stderr=write,
                                stdout=subprocess.DEVNULL) for i in range(2)]
    os.close(write)
    with open(read, "rb") as stream:
        lines = stream.read().decode().splitlines()
    assert [w.wait(timeout=60) for w in workers] == [0, 0]
    assert len(lines) == 4000
    assert [line for line in lines if line.count("(worker ") != 1] == []
