"""Report test helpers: the page's visible text, and headless Chromium (installed from Debian's
``chromium`` package when running as root, skipped with the reason where it cannot be)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

RUN_SECTIONS = ["setting", "headline", "methods", "pareto", "energy", "xai", "layers", "candidates", "finetune",
                "warnings"]  # the order of issue 15
RUN_FIGURES = ["hypervolume", "pareto", "energy", "damage", "relevance"]
NAS_SECTIONS = ["setting", "headline", "methods", "pareto", "search_time", "warnings"]
NAS_FIGURES = ["nas_fronts", "nas_hypervolume"]
BAD_WORDS = re.compile(r"\b(nan|none)\b", re.IGNORECASE)


def visible_text(page: str) -> str:
    """The text a reader sees: no tags, no embedded image data."""
    page = re.sub(r"<img[^>]*>", " ", page)
    page = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", page, flags=re.DOTALL)
    return re.sub(r"<[^>]+>", " ", page)


def section_ids(page: str) -> list[str]:
    return re.findall(r'<section id="section-([a-z_]+)"', page)


def _install_chromium() -> str | None:
    """``apt-get install -y chromium``, with ``apt-get update`` first if that fails; each step
    bounded in time. Returns None when installed, else why not."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "install", "-y", "chromium"], ["apt-get", "update"],
                    ["apt-get", "install", "-y", "chromium"]):
        try:
            subprocess.run(command, env=env, capture_output=True, timeout=600)
        except subprocess.TimeoutExpired:
            return f"'{' '.join(command)}' did not finish within 600 s"
        if shutil.which("chromium"):
            return None
    return "apt-get could not install the chromium package"


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of ``chromium``; installs Debian's package when missing and running as root."""
    if shutil.which("chromium") is None:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            pytest.skip("headless Chromium is not installed, and installing it needs root and apt-get "
                        "(Debian: apt-get install chromium)")
        problem = _install_chromium()
        if problem:
            pytest.skip(f"headless Chromium could not be installed: {problem}")
    return shutil.which("chromium")


def chromium_command(chromium: str, profile: Path) -> list[str]:
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}"]
