"""The local driver JVM's options: the class-data archive (who writes it, who maps it, a real JVM
writing then using it) and the JIT chosen by the input's size."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from runner.spark import class_archive
from runner.spark import session as spark_session
from tests.conftest import make_config


@pytest.fixture(scope="module")
def real_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real dynamic CDS archive, written by a JVM that runs ``java -version``."""
    path = tmp_path_factory.mktemp("cds") / "version.jsa"
    subprocess.run(["java", f"-XX:ArchiveClassesAtExit={path}", *class_archive.QUIET.split(),
                    "-version"], capture_output=True, timeout=120, check=True)
    return path


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_first_jvm_writes_others_wait_then_all_map_it(tmp_path: Path,
                                                          real_archive: Path) -> None:
    archive = tmp_path / "jvm" / "spark.jsa"
    first = class_archive.java_options(archive)
    assert f"-XX:ArchiveClassesAtExit={archive}" in first
    class_archive.claim(archive, os.getpid())  # a live writer (this process stands in)
    assert class_archive.java_options(archive) == ""  # nothing to map yet, nor to write
    archive.write_bytes(real_archive.read_bytes())  # written while the writer exits
    assert class_archive.java_options(archive) == ""  # a live writer may still be writing
    class_archive.claim(archive, _dead_pid())
    assert f"-XX:SharedArchiveFile={archive}" in class_archive.java_options(archive)
    assert not archive.with_suffix(".writer").exists()  # done: the writer file is cleaned up


def test_a_writer_that_died_before_writing_is_taken_over(tmp_path: Path) -> None:
    archive = tmp_path / "spark.jsa"
    assert "ArchiveClassesAtExit" in class_archive.java_options(archive)
    class_archive.claim(archive, _dead_pid())  # e.g. killed before its JVM exited
    assert "ArchiveClassesAtExit" in class_archive.java_options(archive)


def test_a_cache_that_cannot_be_written_means_no_archive_not_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    assert class_archive.java_options(blocker / "jvm" / "spark.jsa") == ""


def test_the_archive_is_named_for_the_java_and_the_class_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNNER_CACHE_DIR", str(tmp_path))
    one = class_archive.archive_path("openjdk 17.0.15", "")
    assert one.parent == tmp_path / "jvm"
    assert one == class_archive.archive_path("openjdk 17.0.15", "")
    assert one != class_archive.archive_path("openjdk 21.0.2", "")
    assert one != class_archive.archive_path("openjdk 17.0.15", "/opt/extra.jar")


def test_each_pyspark_install_has_its_own_archive(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The JVM maps an archive only for the jar paths and mtimes it was written with: two
    virtualenvs with the same pyspark (same jar names and sizes) get two archives, and a jar
    rewritten in place (pyspark reinstalled) a new one."""
    monkeypatch.setenv("RUNNER_CACHE_DIR", str(tmp_path / "cache"))
    venvs = [tmp_path / "venv-a" / "jars", tmp_path / "venv-b" / "jars"]
    for jars in venvs:
        jars.mkdir(parents=True)
        (jars / "spark-core.jar").write_bytes(b"PK" * 10)
        os.utime(jars / "spark-core.jar", ns=(10**18, 10**18))
    one, two = (class_archive.archive_path("openjdk 17.0.15", "", jars) for jars in venvs)
    assert one != two
    os.utime(venvs[0] / "spark-core.jar", ns=(2 * 10**18, 2 * 10**18))
    assert class_archive.archive_path("openjdk 17.0.15", "", venvs[0]) != one


def test_a_new_archive_deletes_those_no_jvm_will_map_again(tmp_path: Path) -> None:
    """Writing an archive for a pyspark install deletes the archives of installs that are gone
    or whose jars changed since; those of other live installs (or other Javas), one whose
    writer still runs and one of unknown origin stay."""
    def install(name: str, mtime: int = 10**18) -> Path:
        jars = tmp_path / name / "jars"
        jars.mkdir(parents=True)
        (jars / "spark-core.jar").write_bytes(b"PK")
        os.utime(jars / "spark-core.jar", ns=(mtime, mtime))
        return jars

    here, other, gone = install("here"), install("other"), install("gone")
    folder = tmp_path / "cache" / "jvm"

    def written(name: str, jars: Path) -> Path:
        archive = folder / f"{name}.jsa"
        assert "ArchiveClassesAtExit" in class_archive.java_options(archive, jars)
        archive.write_bytes(b"archive")  # as the JVM leaves it at exit
        (folder / f"{name}.writer").write_text(str(_dead_pid()))
        return archive

    before_upgrade, other_java = written("old", here), written("java21", here)
    of_other, of_gone = written("other", other), written("gone", gone)
    running = written("running", gone)
    class_archive.claim(running, os.getpid())  # its writer alive (this process stands in)
    unknown = folder / "unknown.jsa"
    unknown.write_bytes(b"archive")
    (gone / "spark-core.jar").unlink()
    gone.rmdir()
    os.utime(here / "spark-core.jar", ns=(2 * 10**18, 2 * 10**18))  # pyspark reinstalled

    java17 = written("java17", here)  # another Java's, for the jars as they are now
    new = written("new", here)
    assert sorted(p.name for p in folder.glob("*.jsa")) == sorted(
        p.name for p in (new, java17, of_other, running, unknown))
    assert not (folder / "old.jars").exists()
    assert not (folder / "gone.writer").exists()
    assert {before_upgrade.exists(), other_java.exists(), of_gone.exists()} == {False}


def _truncated(real_archive: Path, to: Path) -> Path:
    to.parent.mkdir(parents=True, exist_ok=True)
    to.write_bytes(real_archive.read_bytes()[: real_archive.stat().st_size // 2])
    return to


def test_a_truncated_archive_crashes_a_jvm_and_is_found_by_its_header(
        tmp_path: Path, real_archive: Path) -> None:
    cut = _truncated(real_archive, tmp_path / "cut.jsa")
    crash = subprocess.run(["java", f"-XX:SharedArchiveFile={cut}", *class_archive.QUIET.split(),
                            "-version"], cwd=tmp_path, capture_output=True, timeout=120,
                           check=False)
    assert crash.returncode != 0  # SIGBUS while mapping: what a local run used to hit
    assert class_archive.damaged(real_archive) is None
    assert (class_archive.damaged(cut) or "").startswith("truncated")
    garbage = tmp_path / "garbage.jsa"
    garbage.write_bytes(os.urandom(4096))
    assert class_archive.damaged(garbage) == "not a class-data archive"


def test_a_damaged_archive_is_deleted_and_written_again(
        tmp_path: Path, real_archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = _truncated(real_archive, tmp_path / "jvm" / "spark.jsa")
    assert f"-XX:ArchiveClassesAtExit={archive}" in class_archive.java_options(archive)
    assert not archive.exists()
    note = capsys.readouterr().err.strip().splitlines()
    assert len(note) == 1
    assert note[0].startswith("runner: note: deleted the damaged class archive")


@pytest.mark.slow
def test_a_local_run_replaces_a_truncated_archive_and_the_next_run_maps_it(
        tmp_path: Path, real_archive: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first run meets a truncated archive, goes on, and writes a whole new one while
    exiting; the second must map it. One test, two CLI runs (a JVM each): a first run with no
    archive at all takes the same path (a damaged one is deleted first), so it needs no run."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("RUNNER_CACHE_DIR", str(cache))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    archive = _truncated(real_archive, class_archive.archive_path(spark_session._java()[1], ""))
    cut_size = archive.stat().st_size
    cmd = [sys.executable, "-m", "runner.cli", "spark.master='local[2]'",
           "tracking.log_models=none"]

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        # the pipes close when the JVM is gone: an archive it writes at exit is complete
        done = subprocess.run([*cmd, *extra], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=400, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        return done

    first = run()
    notes = [line for line in first.stderr.splitlines() if "damaged class archive" in line]
    assert len(notes) == 1
    assert notes[0].startswith("runner: note: ")
    assert class_archive.damaged(archive) is None
    assert archive.stat().st_size > cut_size
    assert list((cache / "jvm").glob("*.jsa")) == [archive]
    assert archive.read_bytes()[:4] == bytes.fromhex("a8ab0bf0")  # a dynamic CDS archive
    # -Xshare:on makes a JVM that cannot map the archive fail to start instead of going on
    # without it: the next run maps it, and computes the same model
    second = run('++spark.conf={spark.driver.extraJavaOptions: "-Xshare:on"}')
    assert "damaged class archive" not in second.stderr
    assert _accuracy(second.stdout) == _accuracy(first.stdout)


def _accuracy(stdout: str) -> str:
    found = re.search(r"accuracy\s+(\S+)", stdout)
    assert found, stdout[-2000:]
    return found.group(1)


def test_small_local_inputs_get_the_quick_jit_and_big_or_remote_ones_do_not(
        tmp_path: Path) -> None:
    small, big = tmp_path / "small.csv", tmp_path / "big"
    small.write_bytes(b"x" * 1000)
    big.mkdir()
    (big / "part-0.parquet").write_bytes(b"x" * (2 * 2**20))  # a directory counts as a whole
    cfg = make_config(["spark.master='local[2]'", "spark.class_archive=false"]).spark

    def jvm(path: str | None, config=cfg) -> str:
        return spark_session._builder_conf(config, None, path)["spark.driver.extraJavaOptions"]

    assert "-XX:TieredStopAtLevel=1" in jvm(str(small))
    assert "Tiered" not in jvm(str(big))
    assert "Tiered" not in jvm("s3a://bucket/small.csv")
    assert "Tiered" not in jvm(None)
    cluster = make_config(["spark.master=spark://host:7077"]).spark
    assert "Tiered" not in jvm(str(small), cluster)
    own = make_config(["spark.master='local[2]'",
                       '++spark.conf={spark.driver.extraJavaOptions: "-XX:-TieredCompilation"}'])
    assert jvm(str(small), own.spark).endswith("-XX:-TieredCompilation")  # the user's choice
    assert "TieredStopAtLevel" not in jvm(str(small), own.spark)
