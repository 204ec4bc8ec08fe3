"""Kill test: `xaigen run` killed with SIGKILL at random moments, at least 10 times, resumes from
its Optuna storage with no completed trial lost or repeated, and ends with the same results as an
uninterrupted run with the same seed."""

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.configs import nsga2_only
from tests.test_pipeline import strip_timings

BUDGET = 120  # trials of the search that is killed and resumed



def _start(config: Path, out: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "xaigen.cli", "run", "--config", str(config), "--out", str(out),
                             "--quiet"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _complete_trials(db: Path) -> list[tuple]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db) as con:
            rows = con.execute("SELECT t.number, p.param_name, p.param_value FROM trials t JOIN trial_params p "
                               "ON t.trial_id = p.trial_id WHERE t.state = 'COMPLETE' ORDER BY t.number, "
                               "p.param_name").fetchall()
    except sqlite3.OperationalError:  # the schema is being created, or the writer holds the lock
        return []
    trials: dict[int, list] = {}
    for number, name, value in rows:
        trials.setdefault(number, []).append((name, value))
    return [tuple(v) for _, v in sorted(trials.items())]


def _search_seconds(db: Path) -> float:
    """Seconds from the first trial's start to the last trial's end (the search alone, no set-up)."""
    with sqlite3.connect(db) as con:
        first, last = con.execute("SELECT MIN(datetime_start), MAX(datetime_complete) FROM trials").fetchone()
    return (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()


def _wait_for_new_trial(db: Path, before: int, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Until the process has completed a trial beyond ``before`` (or ended, or ``timeout`` s)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None and len(_complete_trials(db)) <= before:
        time.sleep(0.1)


@pytest.mark.slow
def test_sigkill_and_resume(tmp_path):
    config = tmp_path / "kill.toml"
    config.write_text(nsga2_only(budget=BUDGET, epochs=3))
    env = {**os.environ, "XAIGEN_HOME": str(tmp_path / "home"), "PYTHONHASHSEED": "0"}

    straight = tmp_path / "straight"
    proc = _start(config, straight, env)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()
    # Kill within a few trials' time, so that ten kills fit in the budget however fast this machine runs a trial.
    trial_s = _search_seconds(straight / "optuna.db") / BUDGET
    expected = json.loads((straight / "results.json").read_text())
    expected_trials = _complete_trials(straight / "optuna.db")
    assert len(expected_trials) == BUDGET

    killed = tmp_path / "killed"
    rng = random.Random(1)
    kills, progress = 0, []
    for _ in range(40):
        if kills >= 10:
            break
        proc = _start(config, killed, env)
        _wait_for_new_trial(killed / "optuna.db", len(_complete_trials(killed / "optuna.db")), proc)
        time.sleep(rng.uniform(0.0, 4 * trial_s))  # a random moment inside the search
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            trials = _complete_trials(killed / "optuna.db")
            # Nothing lost, nothing repeated: what is stored is a prefix of the uninterrupted run.
            assert trials == expected_trials[: len(trials)]
            progress.append(len(trials))
            assert not (killed / "results.json").exists() or json.loads((killed / "results.json").read_text())
        else:
            break
    assert kills >= 10, f"only {kills} kills landed"
    proc = _start(config, killed, env)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()
    assert _complete_trials(killed / "optuna.db") == expected_trials
    assert strip_timings(json.loads((killed / "results.json").read_text())) == strip_timings(expected)
    assert any(0 < p < BUDGET for p in progress), f"no kill landed inside the search: {progress}"
