"""The embedded sqlite MLflow store under faults (issue 13): a real kill -9 at chosen moments of
its creation, real concurrent creators (runner processes and MLflow's own in-place creation),
a half-created store left by MLflow's code, a damaged store holding runs (never deleted), a
read-only store or folder, an unwritable current directory, an unknown scheme and an
unreachable tracking server: each ends in a working store or in one line and a non-zero exit.

No JVM: the helper processes import ``runner.tracking`` and create the store as a run does.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner import tracking, uris
from runner.errors import RunnerError
from runner.tracking import connect, store
from tests.conftest import repo_root

# Creates (or opens) the store exactly as ``runner`` does before a run
RUNNER_CREATES = (
    "import sys\n"
    "from runner import tracking\n"
    "tracking.use_store(sys.argv[1], writes=True)\n"
    "print('store ready', flush=True)\n"
)
# MLflow's own in-place creation, as `mlflow ui` / `mlflow server` / the client do
MLFLOW_CREATES = (
    "import sys\n"
    "from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore\n"
    "SqlAlchemyStore(sys.argv[1], sys.argv[2])\n"
    "print('store ready', flush=True)\n"
)
WAIT_S = 300.0  # bound of every wait: a loaded 2-core machine imports MLflow in up to a minute


def start(code: str, *args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(repo_root())}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=WAIT_S)
    return proc.returncode, out, err


def wait_until(predicate, proc: subprocess.Popen[str]) -> bool:  # type: ignore[no-untyped-def]
    """Poll until ``predicate()`` or the process ends (bounded)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and proc.poll() is None:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def temporaries(db: Path) -> list[Path]:
    return list(db.parent.glob(db.name + store.TMP_MARK + "*"))


def at_head(db: Path) -> bool:
    return store.state(str(db)) == "ready"


@pytest.mark.slow
def test_a_kill_at_any_moment_of_creation_leaves_no_half_store(tmp_path: Path) -> None:
    """kill -9 before MLflow is imported, as the temporary store appears, and 0.3 s / 1.5 s
    into building it: the store's path holds nothing or a complete store, never half of one,
    and the same command then succeeds."""
    db = tmp_path / "outputs" / "mlflow.db"
    uri = f"sqlite:///{db}"
    for delay_after_tmp in (None, 0.0, 0.3, 1.5):
        proc = start(RUNNER_CREATES, uri, cwd=tmp_path)
        if delay_after_tmp is None:
            time.sleep(0.3)
        elif wait_until(lambda: bool(temporaries(db)), proc):
            time.sleep(delay_after_tmp)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=WAIT_S)
        assert store.state(str(db)) in ("missing", "ready")
    code, out, err = finish(start(RUNNER_CREATES, uri, cwd=tmp_path))
    assert (code, out) == (0, "store ready\n"), err
    assert at_head(db)
    assert not temporaries(db)  # the killed creators' files are gone


@pytest.mark.slow
def test_concurrent_first_use_by_runner_and_mlflow_all_succeed(tmp_path: Path) -> None:
    """Three runner processes and MLflow's own in-place creation (what `mlflow ui` runs) on one
    fresh store at once: every one succeeds and the store is at MLflow's schema head."""
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    procs = [start(RUNNER_CREATES, uri, cwd=tmp_path) for _ in range(3)]
    procs.append(start(MLFLOW_CREATES, uri, str(tmp_path / "mlruns"), cwd=tmp_path))
    results = [finish(p) for p in procs]
    assert [(code, out) for code, out, _ in results] == [(0, "store ready\n")] * 4, results
    assert at_head(db)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM experiments").fetchone() == (1,)


@pytest.mark.slow
def test_a_store_half_created_by_mlflow_is_moved_aside_and_created_anew(tmp_path: Path) -> None:
    """MLflow's in-place creation killed -9 mid-way (the state that failed every later start
    with `table ... already exists`): runner moves it aside, says so, and creates the store."""
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    for _attempt in range(3):  # a fast machine may finish before the kill lands: try again
        proc = start(MLFLOW_CREATES, uri, str(tmp_path / "mlruns"), cwd=tmp_path)
        wait_until(lambda: db.exists() and db.stat().st_size > 0, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=WAIT_S)
        if store.state(str(db)) == "empty":
            break
        db.unlink()
    assert store.state(str(db)) == "empty", "MLflow finished before every kill"
    code, out, err = finish(start(RUNNER_CREATES, uri, cwd=tmp_path))
    assert (code, out) == (0, "store ready\n"), err
    assert "moved aside" in err
    assert len(err.strip().splitlines()) == 1
    assert at_head(db)
    assert list(tmp_path.glob("mlflow.db.broken-*"))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A store made by runner holding one run, created once: tests work on copies."""
    from mlflow import MlflowClient

    db = tmp_path_factory.mktemp("template") / "mlflow.db"
    uri = tracking.use_store(f"sqlite:///{db}", writes=True)
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("kept"))
    client.log_metric(run.info.run_id, "accuracy", 0.97)
    return db, run.info.run_id


@pytest.fixture
def store_with_a_run(template: tuple[Path, str], tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "mlflow.db"
    shutil.copyfile(template[0], db)
    return db, template[1]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("damage", [
    "UPDATE alembic_version SET version_num = '0a8600e7d1d5'",  # an older MLflow's revision
    "CREATE TABLE _alembic_tmp_runs (x INTEGER)",  # a migration interrupted in the middle
])
def test_a_damaged_store_holding_runs_is_never_touched(
        store_with_a_run: tuple[Path, str], tmp_path: Path, damage: str) -> None:
    db, _ = store_with_a_run
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute(damage)
        conn.commit()
    before = _digest(db)
    with pytest.raises(RunnerError, match="holds recorded runs") as error:
        store.ensure(f"sqlite:///{db}")
    assert "\n" not in str(error.value)
    assert _digest(db) == before
    assert not list(tmp_path.glob("mlflow.db.broken-*"))


def test_a_ready_store_with_runs_is_used_as_it_is(store_with_a_run: tuple[Path, str]) -> None:
    db, run_id = store_with_a_run
    before = _digest(db)
    store.ensure(f"sqlite:///{db}")
    assert _digest(db) == before
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT status FROM runs WHERE run_uuid = ?", (run_id,)).fetchone()


def test_an_empty_half_store_and_a_dead_creators_file_are_repaired(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """MLflow's first step alone (its initial tables, no migrations, no runs: what a kill in
    MLflow's in-place creation leaves) is moved aside and the store made anew; a temporary
    file a killed runner left (between publishing and removing it) is removed."""
    import sqlalchemy
    from mlflow.store.tracking.dbmodels.initial_models import Base

    db = tmp_path / "mlflow.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{db}")
    Base.metadata.create_all(engine)
    engine.dispose()
    stale = tmp_path / f"mlflow.db{store.TMP_MARK}99999999"
    stale.write_bytes(b"half a store")
    assert store.state(str(db)) == "empty"
    store.ensure(f"sqlite:///{db}")
    assert at_head(db)
    assert not stale.exists()
    assert "moved aside" in capsys.readouterr().err
    assert len(list(tmp_path.glob("mlflow.db.broken-*"))) == 1


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` made unwritable: ``chattr +i`` as root (chmod does not stop root), else chmod."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    if shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: nothing can make a file read-only")
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip(f"chattr +i is not supported on the filesystem of {path}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_store_is_one_line_and_nothing_lost(
        store_with_a_run: tuple[Path, str], tmp_path: Path, what: str) -> None:
    db, _ = store_with_a_run
    before = _digest(db)
    with read_only(db if what == "file" else tmp_path):
        with pytest.raises(RunnerError, match="cannot write") as error:
            tracking.check_store(f"sqlite:///{db}")
        assert "\n" not in str(error.value)
        assert str(db.parent) in str(error.value)
        tracking.check_store(f"sqlite:///{db}", writes=False)  # it still serves
    assert _digest(db) == before


def test_an_unknown_scheme_is_one_line() -> None:
    with pytest.raises(RunnerError, match="unknown store scheme 'notaurl'"):
        tracking.check_store("notaurl://somewhere/x")
    for known in ("sqlite:///x.db", "postgresql+psycopg2://u@h/db", "file:///tmp/m", "./mlruns"):
        assert uris.scheme(known) in connect.known_schemes()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A socket that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


def test_an_unreachable_server_fails_at_once(closed_port: int, silent_server: int) -> None:
    for port, reason in ((closed_port, "refused"), (silent_server, "no answer in 3 s")):
        uri = f"http://127.0.0.1:{port}"
        with pytest.raises(RunnerError, match=reason) as error:
            tracking.check_store(uri)
        assert str(error.value).startswith(f"tracking.uri={uri}: ")


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    cli = Path(sys.executable).with_name("runner")
    return subprocess.run([str(cli), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=WAIT_S)


def assert_one_line_error(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("runner: error: "), done.stderr
    for text in expected:
        assert text in lines[0]


@pytest.mark.slow
def test_cli_store_mistakes_are_one_line_before_the_jvm(tmp_path: Path, closed_port: int,
                                                         silent_server: int) -> None:
    """`runner`, `runner serve` and `runner predict` against an unreachable server, a silent
    one and an unknown scheme: one line naming the URI, exit 1, and no Spark progress line
    (the JVM never started)."""
    closed, silent = f"tracking.uri=http://127.0.0.1:{closed_port}", \
        f"tracking.uri=http://127.0.0.1:{silent_server}"
    cases = [
        ([closed], "cannot be reached"),
        ([silent], "no answer in 3 s"),
        (["tracking.uri=notaurl://x"], "unknown store scheme"),
        (["serve", closed], "cannot be reached"),
        (["predict", closed, "predict.input=x.csv", "predict.output=y"], "cannot be reached"),
    ]
    (tmp_path / "x.csv").write_text("Island,CulmenLength\nBiscoe,48.7\n")
    for args, expected in cases:
        done = run_cli(args, tmp_path)
        assert_one_line_error(done, expected, args[-1] if args[0] != "predict" else closed)
        assert "Spark session" not in done.stdout


@pytest.mark.slow
def test_cli_in_an_unwritable_directory_is_one_line(tmp_path: Path) -> None:
    cwd = tmp_path / "locked"
    cwd.mkdir()
    with read_only(cwd):
        done = run_cli([], cwd)
    assert_one_line_error(done, str(cwd), "cannot be written")
    assert not (cwd / "outputs").exists()


def test_threads_checking_one_store_at_once_all_pass(tmp_path: Path) -> None:
    """Sweep trials in threads check the store's folder at the same moment: a probe file shared
    by the process made one thread's unlink fail the other ('cannot write'; seen in a 10-kill
    sweep, where it failed a trial)."""
    from concurrent.futures import ThreadPoolExecutor

    path = str(tmp_path / "mlflow.db")
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: connect.check_writable(path), range(400)))
    assert results == [None] * 400
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".runner-write-check")]
