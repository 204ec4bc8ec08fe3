"""Progress where stderr is not a terminal: plain lines at each tenth of a step and at its end,
nothing at its start (a run refused in its first step ends in one error line)."""

import io
import json

from typer.testing import CliRunner

from tests.configs import nsga2_only
from xaigen.cli import app
from xaigen.progress import LineProgress


def test_a_line_at_each_tenth_and_one_at_the_end():
    stream = io.StringIO()
    progress = LineProgress(stream)
    task = progress.add_task("search: nsga2", total=40)
    assert stream.getvalue() == ""
    for _ in range(40):
        progress.advance(task)
    progress.update(task, completed=40, total=40)  # the last tenth's line said it: no other line
    lines = stream.getvalue().splitlines()
    assert [line.split(": ")[-1].split(",")[0] for line in lines] == [f"{4 * k}/40" for k in range(1, 11)]
    other = progress.add_task("explain")
    progress.update(other, completed=1, total=1)
    assert stream.getvalue().splitlines()[-1].endswith("explain: 1/1, 0m00s done")


def test_a_silent_step_still_gets_a_line_after_the_interval(monkeypatch):
    stream = io.StringIO()
    progress = LineProgress(stream, interval_s=0.0)
    task = progress.add_task("evaluate", total=1000)
    progress.advance(task)
    progress.advance(task)
    assert len(stream.getvalue().splitlines()) == 2


def test_a_run_into_a_file_shows_its_steps(tmp_path):
    (tmp_path / "run.toml").write_text(nsga2_only(budget=6))
    result = CliRunner().invoke(app, ["run", "--config", str(tmp_path / "run.toml"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out" / "results.json").read_text())
    lines = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert any("search: nsga2: 6/6" in line for line in lines), result.stderr
    assert any("measure sensitivity: 4/4" in line for line in lines), result.stderr
