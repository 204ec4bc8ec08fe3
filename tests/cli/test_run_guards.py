"""Guards of the two jobs (issue: hostile inputs): command-line values validated like the file's,
seeds, storage URLs checked before work, the output directory checked and locked, studies replayed
only for the same problem, signals reported in one line."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from xaigen.cli import app
from xaigen.outputs import locked_output_dir

from tests.configs import nsga2_only



def _one_line_error(result, text: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("xaigen: error:") and text in lines[0], result.output
    assert "Traceback" not in result.output


def _invoke(args, tmp_path, files=None):
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(text)
    before = time.monotonic()
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert time.monotonic() - before < 30  # refused before any long work
    return result


@pytest.mark.parametrize("args, text", [
    (["nas", "--budget-minutes", "nan", "--out", "{out}"], "nas.budget_minutes"),
    (["nas", "--budget-minutes", "0", "--out", "{out}"], "greater than 0"),
    (["run", "--config", "{dir}/seed.toml", "--out", "{out}"], "search.seed"),
    (["run", "--config", "{dir}/lr.toml", "--out", "{out}"], "model.lr"),
    (["run", "--storage", "not a url", "--out", "{out}"], "not a database URL"),
    (["run", "--storage", "sqlite:////nonexistent-dir/x.db", "--out", "{out}"], "not a writable directory"),
    (["run", "--storage", "postgresql+nodriver://u@127.0.0.1/db", "--out", "{out}"], "storage"),
    (["run", "--config", "{dir}/seeds.toml", "--out", "{out}"], "search.seeds"),
    (["run", "--seeds", "-1", "--out", "{out}"], "search.seeds"),
    (["run", "--config", "{dir}/no_methods.toml", "--out", "{out}"], "no search method"),
    (["run", "--out", "{out}/" + "a" * 300], "output directory"),
    (["nas", "--storage", "not a url", "--trials", "1", "--out", "{out}"], "not a database URL"),
    (["nas", "--config", "{dir}/both.toml", "--out", "{out}"], "give trials or budget_minutes, not both"),
    (["hw", "estimate", "--model", "lenet5", "--input-shape", "1,28"], "--input-shape"),
    (["hw", "estimate", "--model", "lenet5", "--plot", "{dir}/plot.txt"], "must end in .png"),
    (["run", "--budgett", "3", "--out", "{out}"], "No such option: --budgett"),  # the parser's own errors too
    (["run", "--workers", "x", "--out", "{out}"], "Invalid value for '--workers'"),
    (["multipliers", "show"], "Missing argument"),
])
def test_bad_values_are_one_line_errors_before_work(args, text, tmp_path):
    files = {"seed.toml": "[search]\nseed = -1\n", "lr.toml": "[model]\nlr = inf\n",
             "seeds.toml": "[search]\nseeds = [18446744073709551616]\n", "no_methods.toml": "[search]\nmethods = []\n",
             "both.toml": "[nas]\ntrials = 5\nbudget_minutes = 1.0\n"}
    args = [a.format(out=tmp_path / "out", dir=tmp_path) for a in args]
    _one_line_error(_invoke(args, tmp_path, files), text)
    assert not (tmp_path / "out" / "results.json").exists() and not (tmp_path / "out" / "nas.json").exists()


@pytest.mark.parametrize("rich", [True, False])
def test_help_and_no_arguments_still_show_the_help(monkeypatch, rich):
    """The one-line wrapper of parse errors keeps the help: `--help` exits 0, no arguments exit 2
    with the commands listed, with rich help or plain (``TYPER_USE_RICH=0``, read at import)."""
    import typer.core

    monkeypatch.setattr(typer.core, "HAS_RICH", rich)
    for args, code in ((["--help"], 0), ([], 2), (["multipliers"], 2)):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == code and "Traceback" not in result.output
        assert ("run" if not args or args == ["--help"] else "import") in result.output


def test_a_configuration_that_is_a_fifo_is_refused_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "c.toml")
    _one_line_error(_invoke(["run", "--config", tmp_path / "c.toml", "--out", tmp_path / "out"], tmp_path), "FIFO")


def test_corrupt_study_database_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "optuna.db").write_bytes(b"this is not a database" * 100)
    _one_line_error(_invoke(["run", "--out", out], tmp_path), "cannot open")


def test_output_paths_that_would_write_elsewhere_are_refused(tmp_path):
    target = tmp_path / "foreign.log"
    target.write_text("keep me\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.log").symlink_to(target)
    _one_line_error(_invoke(["run", "--out", out], tmp_path), "symbolic link")
    assert target.read_text() == "keep me\n"
    (out / "run.log").unlink()
    (out / "results.json").mkdir()
    _one_line_error(_invoke(["run", "--out", out], tmp_path), "not a regular file")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    _one_line_error(_invoke(["run", "--out", dangling], tmp_path), "dangling symbolic link")


def test_bad_input_found_inside_the_job_leaves_nothing_behind(tmp_path):
    """An unknown candidate is found after the lock, the log and the study are set up: a new
    output directory goes again, an existing one keeps only what it held before."""
    files = {"c.toml": '[multipliers]\ncandidates = ["exact_s8", "nope_s8"]\n'}
    _one_line_error(_invoke(["run", "--config", tmp_path / "c.toml", "--out", tmp_path / "new"], tmp_path, files),
                    "nope_s8")
    assert not (tmp_path / "new").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "run.log").write_text("an earlier job's log\n")
    _one_line_error(_invoke(["run", "--config", tmp_path / "c.toml", "--out", kept], tmp_path), "nope_s8")
    assert sorted(p.name for p in kept.iterdir()) == [".xaigen.lock", "run.log"]  # the lock file stays: no race


def test_bad_input_after_a_completed_seed_keeps_the_work(tmp_path):
    """Seed 0 completed, seed 1 stops on bad input: hours of work are not tidied away."""
    from xaigen.errors import InputError

    out = tmp_path / "new"
    with pytest.raises(InputError):
        with locked_output_dir(out, ["run.log"]):
            (out / "seed-0").mkdir()
            (out / "seed-0" / "results.json").write_text("{}")
            (out / "run.log").write_text("seed 1 stops\n")
            raise InputError("data", "bad")
    assert (out / "seed-0" / "results.json").exists() and (out / "run.log").exists()


def test_tidying_a_new_directory_leaves_what_another_job_put_in_it(tmp_path):
    from xaigen.errors import InputError

    out = tmp_path / "new"
    with pytest.raises(InputError):
        with locked_output_dir(out, ["run.log", "optuna.db"]):
            (out / "optuna.db").write_text("study")
            (out / "seed-0").mkdir()
            (out / "other-job").mkdir()  # e.g. a job started meanwhile with --out new/other-job
            (out / "other-job" / "run.log").write_text("its log\n")
            raise InputError("data", "bad")
    assert sorted(p.name for p in out.iterdir()) == ["other-job"]
    assert (out / "other-job" / "run.log").read_text() == "its log\n"


def test_a_second_job_on_the_same_output_directory_stops_at_once(tmp_path):
    with locked_output_dir(tmp_path / "out"):
        _one_line_error(_invoke(["run", "--out", tmp_path / "out"], tmp_path), "another xaigen job")


def test_rerun_with_other_candidates_or_a_smaller_budget_does_not_replay_the_old_study(tmp_path):
    out = tmp_path / "out"
    first = tmp_path / "a.toml"
    first.write_text(nsga2_only(budget=6, candidates='["exact_s8", "trunc_s8_c8"]'))
    assert CliRunner().invoke(app, ["run", "--config", str(first), "--out", str(out), "-q"]).exit_code == 0
    smaller = tmp_path / "b.toml"
    smaller.write_text(nsga2_only(budget=3, candidates='["exact_s8", "trunc_s8_c8"]'))
    assert CliRunner().invoke(app, ["run", "--config", str(smaller), "--out", str(out), "-q"]).exit_code == 0
    assert json.loads((out / "results.json").read_text())["methods"]["nsga2"]["evaluations"] == 3
    other = tmp_path / "c.toml"
    other.write_text(nsga2_only(budget=6, candidates='["exact_s8", "drum_s8_k4"]'))
    assert CliRunner().invoke(app, ["run", "--config", str(other), "--out", str(out), "-q"]).exit_code == 0
    results = json.loads((out / "results.json").read_text())
    used = {m for point in results["methods"]["nsga2"]["by_budget"].values() if point
            for m in point["assignment"].values()}
    assert used <= {"exact_s8", "drum_s8_k4"}


def test_sigterm_is_one_line_and_the_conventional_exit_code(tmp_path):
    config = tmp_path / "t.toml"
    config.write_text(nsga2_only(budget=400, candidates='"signed"'))
    env = {**os.environ, "XAIGEN_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen([sys.executable, "-m", "xaigen.cli", "run", "--config", str(config), "--out",
                             str(tmp_path / "out"), "-q"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / "out" / "optuna.db").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines() == ["xaigen: stopped by SIGTERM; run the same command again to resume"]
