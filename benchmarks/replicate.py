"""`make replicate`: SEFT against SFT, DPO and ORPO on the testbed, over seeds, plus the data-scaling curve.

Runs ``seft run configs/replicate.yaml`` (resumable: rerun the same command after a kill), then
copies the comparison (tables, CSVs, plots) into ``benchmarks/results/`` with a header saying
what made it, when, on what machine and how long it took. The README quotes that file.

    python benchmarks/replicate.py [--out runs/replicate] [--config configs/replicate.yaml] [--set key=value ...]
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "configs" / "replicate.yaml"))
    ap.add_argument("--out", default="runs/replicate")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results"),
                    help="Where the comparison is copied with its header (default: benchmarks/results).")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)

    import logging

    from seft.config.core import load_config
    from seft.config.stages import RunConfig
    from seft.runs.pipeline import run_pipeline

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    cfg = load_config(RunConfig, args.config, [*args.overrides, f"out={args.out}"])
    t0 = time.time()
    compare_dir = run_pipeline(cfg)
    minutes = (time.time() - t0) / 60
    if cfg.seeds == 1:  # a single run compares into RUN/compare
        from seft.config.stages import CompareConfig
        from seft.runs.compare import run_compare

        compare_dir = run_compare(CompareConfig(runs=[str(compare_dir)]))
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    for name in ("compare.csv", "compare.png", "scaling.csv", "scaling.png"):
        if (Path(compare_dir) / name).exists():
            shutil.copy(Path(compare_dir) / name, results / name)
    cmd = " ".join(["python benchmarks/replicate.py", *sys.argv[1:]]) if argv is None else "replicate.main(...)"
    header = (f"<!-- written by benchmarks/replicate.py; do not edit by hand -->\n"
              f"Made by `{cmd}` (config `{Path(args.config).name}`, {cfg.seeds} seed(s)) at commit `{_git_commit()}` "
              f"on {time.strftime('%Y-%m-%d')}: {minutes:.1f} min wall on {os.cpu_count()} CPU cores "
              f"({platform.processor() or platform.machine()}); the time is this call's only, so a resumed "
              f"run shows less than the whole.\n\n")
    text = header + (Path(compare_dir) / "compare.md").read_text()
    (results / "replicate.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
