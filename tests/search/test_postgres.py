"""Searches shared through a real PostgreSQL server (the README's "Many machines" recipe).

The fixture starts a throw-away server in a temporary directory as the unprivileged `postgres`
user (or as the current user when not root) on a free loopback port, and stops it afterwards.
Skipped when PostgreSQL or its Python driver is not installed.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.configs import LIGHT_XAI, nsga2_only
from tests.test_pipeline import TINY, strip_timings
from xaigen.config import config_from_dict

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)), None)
_databases = itertools.count()


def _as_server_user() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@pytest.fixture(scope="module")
def server():
    pytest.importorskip("psycopg2", reason="PostgreSQL driver not installed (pip install 'xaigen[postgres]')")
    if PG_BIN is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        pytest.skip("PostgreSQL server binaries not installed")
    bin_dir, base = PG_BIN.parent, Path(tempfile.mkdtemp(prefix="xaigen-pg-"))
    base.chmod(0o755)
    data = base / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(data, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = lambda *args: subprocess.run([*_as_server_user(), *map(str, args)], check=True, capture_output=True)  # noqa: E731
    run(bin_dir / "initdb", "-D", data, "-U", "xaigen", "--auth=trust", "-E", "UTF8")
    run(bin_dir / "pg_ctl", "-D", data, "-l", base / "server.log", "-w", "-o",
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1", "start")
    try:
        yield lambda name: (run(bin_dir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "xaigen", name),
                            f"postgresql+psycopg2://xaigen@127.0.0.1:{port}/{name}")[1]
    finally:
        run(bin_dir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture()
def database(server):
    """A fresh database on the shared server for each test."""
    return server(f"xaigen{next(_databases)}")


def _completed(url: str) -> list:
    import optuna

    (name,) = optuna.get_all_study_names(url)
    return [t for t in optuna.load_study(study_name=name, storage=url).trials]


def test_one_worker_on_postgres_gives_the_sqlite_results(database, tmp_path):
    from xaigen.pipeline import run_pipeline

    config = {**TINY, "xai": LIGHT_XAI, "search": {"budget": 8, "methods": ["nsga2", "xai-gen"]}}
    on_sqlite = run_pipeline(config_from_dict(config), tmp_path / "sqlite")
    config["search"]["storage"] = database
    on_postgres = run_pipeline(config_from_dict(config), tmp_path / "postgres")
    assert strip_timings(on_postgres) == strip_timings(on_sqlite)


def test_two_workers_complete_an_nsga2_and_a_nas_budget_together(database, tmp_path):
    from xaigen.nas import run_nas
    from xaigen.pipeline import run_pipeline

    config = config_from_dict({**TINY, "xai": LIGHT_XAI, "search": {"budget": 10, "methods": ["nsga2"],
                                                                     "storage": database}})
    results = run_pipeline(config, tmp_path / "run", workers=2)
    complete = [t for t in _completed(database) if t.state.name == "COMPLETE"]
    assert 10 <= len(complete) <= 11  # both workers may start the last trial
    assert 1 <= results["methods"]["nsga2"]["evaluations"] <= 10  # repeated genomes are one evaluation
    nas = config_from_dict({"nas": {"trials": 3, "epochs": 1, "xaigen_budget": 3, "methods": ["xai-nas"]}})
    result = run_nas(nas, tmp_path / "nas", storage=database, workers=2)
    assert 3 <= result["methods"]["xai-nas"]["trials"] <= 4


def test_a_killed_workers_trial_is_recovered_and_another_machine_can_join(database, tmp_path):
    """The leader is SIGKILLed mid-search; a joining process (`--join`, as from another machine)
    and the restarted leader complete the budget; the killed trial is marked failed."""
    config = tmp_path / "c.toml"
    config.write_text(nsga2_only(budget=30))
    env = {**os.environ, "XAIGEN_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "xaigen.cli", "run", "--config", str(config), "--storage", database, "-q"]
    leader = subprocess.Popen([*command, "--out", str(tmp_path / "lead")], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and leader.poll() is None:
        trials = _completed(database) if _has_study(database) else []
        if sum(t.state.name == "COMPLETE" for t in trials) >= 3:
            break
        time.sleep(0.05)
    leader.send_signal(signal.SIGKILL)
    leader.wait()
    assert sum(t.state.name == "COMPLETE" for t in _completed(database)) < 30, "killed after the search ended"
    joiner = subprocess.run([*command, "--out", str(tmp_path / "join"), "--join"], env=env, capture_output=True,
                            text=True, timeout=300)
    assert joiner.returncode == 0, joiner.stderr
    assert not (tmp_path / "join" / "results.json").exists()
    restarted = subprocess.run([*command, "--out", str(tmp_path / "lead")], env=env, capture_output=True, text=True,
                               timeout=300)
    assert restarted.returncode == 0, restarted.stderr
    states = [t.state.name for t in _completed(database)]
    assert states.count("COMPLETE") == 30 and "RUNNING" not in states
    import json

    assert 1 <= json.loads((tmp_path / "lead" / "results.json").read_text())["methods"]["nsga2"]["evaluations"] <= 30


def _has_study(url: str) -> bool:
    import optuna

    return bool(optuna.get_all_study_names(url))
