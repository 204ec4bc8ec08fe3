"""The default run's report as a browser renders it: headless Chromium's DOM has every section and
figure, and no text reads "nan" or "None"; its screenshot is a page of tables and plots."""

import re
import subprocess

import numpy as np
from matplotlib.image import imread

from tests.report.conftest import BAD_WORDS, RUN_FIGURES, RUN_SECTIONS, chromium_command, section_ids, visible_text


def test_report_renders_in_headless_chromium(tiny_run, chromium, tmp_path):
    out, _ = tiny_run
    url = (out / "report.html").resolve().as_uri()
    base = chromium_command(chromium, tmp_path / "profile")
    dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True).stdout
    assert section_ids(dom) == RUN_SECTIONS
    for stem in RUN_FIGURES:
        assert re.search(rf'<figure id="figure-{stem}"><img [^>]*src="data:image/png;base64,', dom), stem
    text = visible_text(dom)
    assert "Setting and provenance" in text and "Warnings" in text
    assert not BAD_WORDS.search(text), BAD_WORDS.search(text)
    shot = tmp_path / "shot.png"
    subprocess.run([*base, "--hide-scrollbars", "--window-size=1200,4000", f"--screenshot={shot}", url],
                   capture_output=True, timeout=120, check=True)
    pixels = imread(shot)
    assert pixels.shape[0] >= 4000 and pixels.shape[1] >= 1200
    # A rendered page with tables and plots, not a blank or error page: many distinct colours.
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 200
