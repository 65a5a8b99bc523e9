"""report.html in a real browser: its size, its load time, a filter and a search, a screenshot.

    python benchmarks/report_page.py runs/demo [--screenshot docs/report.png]
    python benchmarks/report_page.py --fake 100000 /tmp/big-run      # a synthetic run of N revisions

Opens ``RUN/report.html`` in headless Chromium (Debian's ``chromium`` package) through the page's
own self-test (``#selftest:LEVEL:TEXT``: it clicks every level box but LEVEL off, types TEXT into
the search box and writes the rows it then shows into the page), and prints the page's size, the
time until its load event, and those counts. ``--fake N`` first writes a run directory of N
revisions over 4 rounds (hand-made text, scores and levels) and its report, to measure a run far
larger than the demo. The browser test (tests/test_report_browser.py) uses the same functions.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def _chromium(browser: str, *args: str, timeout: float = 120) -> str:
    # --no-sandbox: CI containers run as root, where Chromium's sandbox refuses to start.
    with tempfile.TemporaryDirectory() as profile:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
               f"--user-data-dir={profile}", *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{browser} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def self_test(page: Path, level: str, text: str, browser: str | None = None) -> dict:
    """What the page shows after its self-test: ``{"rows", "level", "level_and_search", "visible", "load_ms"}``."""
    browser = browser or find_browser()
    if browser is None:
        raise RuntimeError("no Chromium found (apt-get install chromium)")
    url = page.resolve().as_uri() + "#selftest:" + level + ":" + text.replace(" ", "%20")
    dom = _chromium(browser, "--virtual-time-budget=10000", "--dump-dom", url)
    m = re.search(r'<pre id="selftest">(.*?)</pre>', dom, re.S)
    if not m or not m.group(1).strip():
        raise RuntimeError(f"the page's self-test wrote nothing; the DOM ends with: {dom[-500:]}")
    return json.loads(m.group(1))


def screenshot(page: Path, png: Path, *, width: int = 1280, height: int = 1800, anchor: str = "",
               browser: str | None = None) -> Path:
    """A ``width`` x ``height`` PNG of the page, scrolled to ``#anchor`` when given."""
    browser = browser or find_browser()
    png.parent.mkdir(parents=True, exist_ok=True)
    _chromium(browser, f"--window-size={width},{height}", "--hide-scrollbars", "--virtual-time-budget=3000",
              f"--screenshot={png.resolve()}",
              page.resolve().as_uri() + (f"#{anchor}" if anchor else ""))
    return png


def fake_run(out: Path, n: int, *, rounds: int = 4, seed: int = 0) -> Path:
    """A run directory of ``n`` revisions over ``rounds`` rounds, with audit lines and report.md."""
    rng = random.Random(seed)
    words = "the of and to in is that for it as with was on be by this are from or an at".split()
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(f"# SEFT run report\n\nA synthetic run of {n:,} revisions.\n")
    per = n // rounds
    for k in range(1, rounds + 1):
        rd = out / "rounds" / f"round_{k:02d}"
        rd.mkdir(parents=True, exist_ok=True)
        levels = {"KEEP": 0, "MINOR": 0, "MAJOR": 0, "none": 0}
        with (rd / "revisions.jsonl").open("w") as rev, (rd / "audit.jsonl").open("w") as aud:
            for i in range(per):
                level = rng.choice(["KEEP", "MINOR", "MAJOR", None])
                levels[level or "none"] += 1
                draft = " ".join(rng.choice(words) for _ in range(rng.randint(5, 40)))
                final = draft if level in ("KEEP", None) else " ".join(
                    w if rng.random() > 0.2 else rng.choice(words) for w in draft.split())
                rid = f"r{k}-{i}"
                rev.write(json.dumps({"id": rid, "prompt": f"question {i}: " + " ".join(rng.sample(words, 6)),
                                      "draft": draft, "level": level, "final": final, "changed": final != draft,
                                      "fallback": None if level else "no_tag"}) + "\n")
                aud.write(json.dumps({"id": rid, "draft_score": rng.choice([0.0, 0.5, 1.0]),
                                      "final_score": rng.choice([0.0, 0.5, 1.0])}) + "\n")
        (rd / "metrics.json").write_text(json.dumps({"round": k, "phase": "internal", "source": "internal",
                                                     "revision": {"levels": levels},
                                                     "audit": {"overall": {"top_score": 1.0}}}))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="run directory (with --fake: where to write the synthetic one)")
    ap.add_argument("--fake", type=int, help="first write a synthetic run of this many revisions")
    ap.add_argument("--screenshot", help="also save a 1280-px wide screenshot here (PNG)")
    ap.add_argument("--anchor", default="", help="scroll the screenshot to this id (e.g. revisions)")
    ap.add_argument("--height", type=int, default=1800, help="the screenshot's height in pixels")
    ap.add_argument("--level", default="MINOR", help="the level the self-test keeps")
    ap.add_argument("--search", default="the", help="the text the self-test searches")
    args = ap.parse_args(argv)

    from seft.config.report import HtmlReportConfig
    from seft.report.html import write_html_report
    from seft.report.summary import collect_rounds

    run = Path(args.run)
    if args.fake:
        t0 = time.perf_counter()
        fake_run(run, args.fake)
        print(f"wrote a synthetic run of {args.fake:,} revisions in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    page = write_html_report(run, HtmlReportConfig(), rounds=collect_rounds(run))
    build = time.perf_counter() - t0
    result = self_test(page, args.level, args.search)
    print(f"| page | size | built in | load event | rows | {args.level} only | + search '{args.search}' |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {page} | {page.stat().st_size / 1024:.0f} KiB | {build:.2f} s | {result['load_ms']} ms | "
          f"{result['rows']} | {result['level']} | {result['level_and_search']} |")
    if args.screenshot:
        print(f"screenshot -> {screenshot(page, Path(args.screenshot), height=args.height, anchor=args.anchor)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
