"""report.html of the tiny run: sections in the issue's order, every figure as PNG + SVG, every
table as CSV, self-contained, no "nan"/"None"; `xaigen report` re-renders, merges seeds and refuses
bad files with one line and no output."""

import copy
import csv
import html
import json
import re
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from tests.report.conftest import BAD_WORDS, RUN_FIGURES, RUN_SECTIONS, section_ids, visible_text
from xaigen.cli import app
from xaigen.report.html import write_report

RUN_TABLES = ["setting", "headline", "methods", "energy_parts", "damage_vs_truth", "xai_methods", "layers",
              "candidates", "finetune"]


def _check_report(out):
    page = (out / "report.html").read_text(encoding="utf-8")
    assert section_ids(page) == RUN_SECTIONS
    for stem in RUN_FIGURES:
        assert f'id="figure-{stem}"' in page
        assert (out / "figures" / f"{stem}.png").stat().st_size > 1000
        root = ET.parse(out / "figures" / f"{stem}.svg").getroot()  # well-formed vector graphics
        assert root.tag.endswith("svg")
    assert page.count("data:image/png;base64,") == len(RUN_FIGURES)
    for name in RUN_TABLES:
        assert f'id="table-{name}"' in page
        rows = list(csv.reader((out / "tables" / f"{name}.csv").open(encoding="utf-8")))
        assert len(rows) >= 2 and all(len(r) == len(rows[0]) for r in rows)
    assert not re.search(r"(src|href)=\"(https?:)?//", page) and "<script" not in page  # offline
    assert not BAD_WORDS.search(visible_text(page)), BAD_WORDS.search(visible_text(page))
    assert not list(out.rglob(".*.tmp"))  # atomic writes leave no temporary files
    return page


def test_run_report_has_every_section_figure_and_table(tiny_run):
    out, results = tiny_run
    page = _check_report(out)
    assert "relevance (ig_delta)" in page  # the guide XAI-Gen used
    assert "ig_delta (floor: fisher, max)" in page  # the guide's floor and how it applies ([xai] guide_floor_mode)
    assert "estimators saw images of the training set ([xai] data)" in page  # TINY sets data = "train"
    assert results["provenance"]["seeds"] == [0] and results["provenance"]["versions"]["torch"]
    sizes = results["provenance"]["data_sizes"]
    assert sizes["search_validation"] + sizes["held_out"] > 0 and sizes["train"] > 0
    for key in ("torch version", "captum version", "optuna version", "numpy version", "held-out samples"):
        assert key in page
    circuits = results["circuits"]["candidates"]
    assert [c["name"] for c in circuits] == results["candidates"]
    assert all(c["energy_per_mac_pj"] == pytest.approx(c["power_mw"]) for c in circuits)  # 1 ns period
    assert next(c for c in circuits if c["name"] == "exact_s8")["mae"] == 0.0
    pooled = next(line for line in (out / "tables" / "methods.csv").read_text().splitlines()
                  if line.startswith("best-known front"))
    assert float(pooled.split(",")[4]) == pytest.approx(results["best_known"]["hypervolume"])  # beside the methods


def test_report_command_rerenders_the_same_tables(tiny_run, tmp_path):
    out, _ = tiny_run
    result = CliRunner().invoke(app, ["report", str(out / "results.json"), "--out", str(tmp_path / "again")])
    assert result.exit_code == 0, result.output
    _check_report(tmp_path / "again")
    for name in RUN_TABLES:  # the run and the command share one renderer
        again = (tmp_path / "again" / "tables" / f"{name}.csv").read_text()
        assert again == (out / "tables" / f"{name}.csv").read_text()


def test_a_spearman_of_zero_shows_as_zero_in_table_and_legend(tiny_run, tmp_path):
    _, results = tiny_run
    changed = copy.deepcopy(results)
    method = next(m for m, v in changed["xai"].items() if v["scores"])
    changed["xai"][method]["spearman_vs_sensitivity"] = 0.0
    write_report(changed, tmp_path)
    rows = {r[0]: r for r in csv.reader((tmp_path / "tables" / "xai_methods.csv").open())}
    assert float(rows[method][1]) == 0.0
    assert re.search(rf"<td class=\"text\">{method}</td><td>0\.000</td>", (tmp_path / "report.html").read_text())
    assert f"{method} (Spearman 0.00)" in (tmp_path / "figures" / "relevance.svg").read_text()


def test_several_seeds_merge_into_mean_and_spread(tiny_run, tmp_path):
    out, results = tiny_run
    other = copy.deepcopy(results)
    other["seed"] = 1
    other["provenance"]["seeds"] = [1]
    choice = other["methods"]["xai-gen"]["by_budget"]["0.01"]
    choice["multiplier_energy_reduction"] += 1.0
    (tmp_path / "seed1.json").write_text(json.dumps(other))
    result = CliRunner().invoke(app, ["report", str(out / "results.json"), str(tmp_path / "seed1.json"),
                                      "--out", str(tmp_path / "merged")])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "merged" / "tables" / "headline.csv").open()))
    first = results["methods"]["xai-gen"]["by_budget"]["0.01"]["multiplier_energy_reduction"]
    assert float(rows[0]["multiplier reduction"]) == pytest.approx(first + 0.5)
    assert float(rows[0]["multiplier reduction std"]) == pytest.approx(2**-0.5)
    page = (tmp_path / "merged" / "report.html").read_text()
    assert " ± 0.71" in page and "sample standard deviation over 2 seeds" in page and "seeds 0, 1" in page
    assert not BAD_WORDS.search(visible_text(page))


def _bad_files(tmp_path, tiny):
    out, results = tiny
    other = copy.deepcopy(results)
    other["dataset"] = "fashion-mnist"
    (tmp_path / "other.json").write_text(json.dumps(other))
    (tmp_path / "text.json").write_text("not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "partial.json").write_text(json.dumps({k: v for k, v in results.items() if k != "exact"}))
    (tmp_path / "no_budget.json").write_text(json.dumps({**results, "loss_budgets": []}))
    nas = tmp_path.parent / "nas.json"
    return {"missing": ([tmp_path / "absent.json"], "no such file"),
            "not json": ([tmp_path / "text.json"], "not valid JSON"),
            "not an object": ([tmp_path / "list.json"], "expected a JSON object"),
            "invalid": ([tmp_path / "partial.json"], "exact"),
            "no budget": ([tmp_path / "no_budget.json"], "loss_budgets"),
            "a directory": ([tmp_path], "expected a file"),
            "other setting": ([out / "results.json", tmp_path / "other.json"], "dataset differs"),
            "same seed twice": ([out / "results.json", out / "results.json"], "each seed once"),
            "nas with a run": ([nas, out / "results.json"], "on its own")}


@pytest.mark.parametrize("case", ["missing", "not json", "not an object", "invalid", "no budget", "a directory",
                                  "other setting", "same seed twice", "nas with a run"])
def test_bad_results_files_give_one_line_and_no_output(tiny_run, tmp_path, case):
    from tests.golden import NAS_WITHOUT_PROVENANCE as GOLDEN

    (tmp_path.parent / "nas.json").write_text(GOLDEN.read_text())
    files, expected = _bad_files(tmp_path, tiny_run)[case]
    result = CliRunner().invoke(app, ["report", *map(str, files), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xaigen: error: ") and expected in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


def test_a_linked_figures_folder_is_refused(tiny_run, tmp_path):
    out, _ = tiny_run
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "figures").symlink_to(tmp_path / "elsewhere")
    result = CliRunner().invoke(app, ["report", str(out / "results.json"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "symbolic link" in result.stderr
    assert not list((tmp_path / "elsewhere").iterdir())


def test_warnings_and_a_harmful_fine_tune_are_said(tiny_run, tmp_path):
    _, results = tiny_run
    changed = copy.deepcopy(results)
    changed["finetune"]["test_accuracy_after"] = changed["finetune"]["test_accuracy_before"] - 0.031
    choice = next(c for c in changed["methods"]["random"]["by_budget"].values() if c is not None)
    choice["heldout_breaks_budget"], choice["heldout_loss"] = True, 0.0456
    changed["coverage_detail"]["not_approximated"] = [{"site": "head:matmul#0", "op": "matmul", "macs": 4096,
                                                      "reason": "operands are both activations"}]
    changed["circuits"]["left_out"] = [{"name": "mul8s_ZERO", "reason": "no usable power figure"}]
    changed["xaigen_diagnostics"]["xai-gen"]["removed_moves"] = [["conv2", "mul8s_1L12"]]
    write_report(changed, tmp_path)
    page = (tmp_path / "report.html").read_text()
    warnings = page[page.index('id="section-warnings"'):]
    assert "LOWERED the held-out accuracy by 3.10 points" in page
    assert "fine-tuning lowered the held-out accuracy" in warnings
    assert "random&#x27;s choice for the" in warnings and "loses 4.56 points on the held-out half" in warnings
    assert "head:matmul#0 (operands are both activations)" in warnings
    assert "circuit mul8s_ZERO left out: no usable power figure" in warnings
    assert "xai-gen took mul8s_1L12 in layer conv2 out of its path" in warnings
    assert 'id="table-left_out"' in page and (tmp_path / "tables" / "left_out.csv").exists()


def test_a_results_file_from_before_provenance_renders_with_words_for_what_it_lacks(tmp_path):
    from tests.golden import RUN_WITHOUT_PROVENANCE as golden

    result = CliRunner().invoke(app, ["report", str(golden), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "report.html").read_text()
    assert section_ids(page) == RUN_SECTIONS
    assert "not measured" in page and not BAD_WORDS.search(visible_text(page))


def test_in_loop_fine_tuning_is_shown_beside_the_choice_without_retraining(tiny_run, tmp_path):
    _, results = tiny_run
    changed = copy.deepcopy(results)
    xg = changed["methods"]["xai-gen"]
    before = xg["by_budget"]["0.01"]
    xg["retrained"] = {"finetunes": 2, "wall_s": 1.5, "by_budget": {"0.01": {
        "assignment": before["assignment"], "accuracy_before": before["accuracy"], "accuracy": before["accuracy"],
        "test_accuracy": before["test_accuracy"] - 0.0123, "energy_pj": before["energy_pj"] / 1.1,
        "multiplier_energy_pj": before["multiplier_energy_pj"] / 1.5, "energy_reduction": 1.1 * before["energy_reduction"],
        "multiplier_energy_reduction": 1.5 * before["multiplier_energy_reduction"], "epochs": 2}, "0.02": None}}
    write_report(changed, tmp_path)
    rows = list(csv.DictReader((tmp_path / "tables" / "finetune_in_loop.csv").open()))
    assert [r["loss budget (points)"] for r in rows] == ["1.0", "2.0"]
    assert float(rows[0]["held-out change (points)"]) == pytest.approx(-1.23)
    assert rows[1]["mult. reduction, fine-tuned"] == ""  # nothing found: empty in the CSV, "—" on the page
    page = (tmp_path / "report.html").read_text()
    assert "<td>-1.23</td>" in page and not BAD_WORDS.search(visible_text(page))
    assert "fine-tuned choice" not in visible_text(page).split("Warnings")[-1]  # no held-out figure: no claim


def test_a_fine_tuned_choice_that_breaks_its_budget_is_warned_and_seeds_are_merged(tiny_run, tmp_path):
    _, results = tiny_run
    runs = []
    for seed, lost in ((0, 0.031), (1, 0.004)):
        changed = copy.deepcopy(results)
        changed["seed"] = seed
        xg = changed["methods"]["xai-gen"]
        before = xg["by_budget"]["0.02"]
        xg["retrained"] = {"finetunes": 3, "wall_s": 2.0, "by_budget": {"0.01": None, "0.02": {
            **{k: before[k] for k in ("assignment", "energy_pj", "multiplier_energy_pj", "energy_reduction")},
            "accuracy_before": before["accuracy"], "accuracy": before["accuracy"], "epochs": 1,
            "multiplier_energy_reduction": 2 * before["multiplier_energy_reduction"],
            "test_accuracy": changed["exact"]["test_accuracy"] - lost, "heldout_loss": lost,
            "heldout_breaks_budget": lost > 0.02}}}
        attempt = {"assignment": before["assignment"], "multiplier_energy_reduction": 3.0, "accuracy_before": 0.9,
                   "epochs": 1}
        xg["retrained"]["attempts"] = [{**attempt, "budget": "0.01", "accuracy_after": 0.93, "within_budget": False},
                                       {**attempt, "budget": "0.02", "accuracy_after": 0.95, "within_budget": True}]
        runs.append(changed)
    write_report(runs, tmp_path)
    text = html.unescape(visible_text((tmp_path / "report.html").read_text()))
    assert "seed 0: xai-gen's fine-tuned choice for the 2-point budget loses 3.10 points" in text
    assert "seed 1: xai-gen's fine-tuned choice" not in text
    rows = list(csv.DictReader((tmp_path / "tables" / "finetune_in_loop.csv").open()))
    assert float(rows[1]["held-out loss, fine-tuned (points)"]) == pytest.approx(1.75)  # the mean of 3.1 and 0.4
    attempts = list(csv.DictReader((tmp_path / "tables" / "finetune_attempts.csv").open()))
    assert [(r["seed"], r["within budget"]) for r in attempts] == [("0", "no"), ("0", "yes"), ("1", "no"), ("1", "yes")]
    assert float(attempts[0]["change (points)"]) == pytest.approx(3.0)


def test_a_users_model_with_failed_xai_and_partial_coverage_renders_without_gaps(tiny_run, tmp_path):
    """What a user's network can give (tests/test_user_network.py): every XAI method failed, no
    truth table, no fine-tune, an operation left exact, a task metric below zero."""
    _, results = tiny_run
    changed = copy.deepcopy(results)
    for v in changed["xai"].values():
        v.update(scores={}, error="cannot reach functional call sites", spearman_vs_sensitivity=None,
                 spearman_vs_accuracy_drop=None)
        v.pop("damage_vs_truth", None)
    changed.update(damage=None, finetune=None, coverage=0.64)
    changed["exact"]["accuracy"] = changed["exact"]["test_accuracy"] = -0.25  # a negative MSE as the metric
    changed["coverage_detail"] = {"fraction": 0.64, "approximated_macs": 64, "total_macs": 100, "not_approximated": [
        {"site": "lstm:lstm#0", "op": "lstm", "macs": 36, "reason": "no approximate kernel for this operation"}]}
    write_report(changed, tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert section_ids(page) == RUN_SECTIONS
    assert "Damage vs measured truth: not measured" in page and 'id="figure-damage"' not in page
    assert "Coverage: 64.00%" in page and "lstm:lstm#0" in page[page.index('id="section-warnings"'):]
    assert "Fine-tuning: not run" in page and "cannot reach functional call sites" in page
    assert not BAD_WORDS.search(visible_text(page)), BAD_WORDS.search(visible_text(page))
