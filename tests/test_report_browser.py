"""report.html in headless Chromium: a level filter and the search box show the rows they should.

CI installs Debian's `chromium` (.ci/run) and sets SEFT_REQUIRE_BROWSER=1, so there a missing
browser fails the test instead of skipping it.
"""
from __future__ import annotations

import os
import re
import struct
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from report_page import fake_run, find_browser, screenshot, self_test  # noqa: E402

from seft.config.report import HtmlReportConfig  # noqa: E402
from seft.report.html import write_html_report  # noqa: E402
from seft.report.summary import collect_rounds  # noqa: E402

BROWSER = find_browser()
if BROWSER is None and os.environ.get("SEFT_REQUIRE_BROWSER") == "1":
    raise RuntimeError("SEFT_REQUIRE_BROWSER=1 but no Chromium is installed (apt-get install chromium)")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(BROWSER is None, reason="no Chromium (apt-get install chromium)")]


def test_filters_and_search_in_a_real_browser(tmp_path):
    run = fake_run(tmp_path / "run", 8192)  # the demo's size: 4 rounds of 2,048 revisions
    page = write_html_report(run, HtmlReportConfig(rows_per_level=60, seed=0), rounds=collect_rounds(run))
    html = page.read_text()
    rows = re.findall(r'<tr data-round="\d+" data-group="(\w+)" data-outcome="\w+">(.*?)</tr>', html, re.S)
    assert len(rows) == 4 * 4 * 60
    text = [re.sub(r"<[^>]+>", "", body).lower() for _, body in rows]
    minor = [i for i, (group, _) in enumerate(rows) if group == "MINOR"]
    with_word = [i for i in minor if "question 1" in text[i]]
    assert 0 < len(with_word) < len(minor)  # the search narrows the filter's rows, not to nothing

    got = self_test(page, "MINOR", "Question 1", BROWSER)  # the search ignores case
    assert got["rows"] == len(rows)
    assert got["level"] == len(minor)
    assert got["level_and_search"] == got["visible"] == len(with_word)
    assert got["load_ms"] < 5000

    png = screenshot(page, tmp_path / "page.png", width=1280, browser=BROWSER)
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">I", header[16:20])[0] == 1280
