"""nas.html in the layout of report.html, re-rendered from a stored nas.json by `xaigen report`."""

import csv
import json
import xml.etree.ElementTree as ET

from typer.testing import CliRunner

from tests.golden import NAS_WITHOUT_PROVENANCE as GOLDEN
from tests.report.conftest import BAD_WORDS, NAS_FIGURES, NAS_SECTIONS, section_ids, visible_text
from xaigen.cli import app


def test_report_command_renders_a_nas_results_file(tmp_path):
    (tmp_path / "nas.json").write_text(GOLDEN.read_text())  # a file from before provenance was recorded
    result = CliRunner().invoke(app, ["report", str(tmp_path / "nas.json")])  # --out: the file's folder
    assert result.exit_code == 0, result.output
    page = (tmp_path / "nas.html").read_text()
    assert section_ids(page) == NAS_SECTIONS
    for stem in NAS_FIGURES:
        assert f'id="figure-{stem}"' in page
        assert ET.parse(tmp_path / "figures" / f"{stem}.svg").getroot().tag.endswith("svg")
        assert (tmp_path / "figures" / f"{stem}.png").stat().st_size > 1000
    methods = list(csv.DictReader((tmp_path / "tables" / "nas_methods.csv").open()))
    assert {r["method"] for r in methods} == set(json.loads(GOLDEN.read_text())["methods"])
    assert "not measured" in page  # the old file has no provenance: said, not blank
    assert not BAD_WORDS.search(visible_text(page))
