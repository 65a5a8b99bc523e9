"""``report.html``: a run you can read, in one self-contained file.

The page holds ``report.md`` (its tables, converted by Python-Markdown, with the plots embedded as
data URIs), each round's level distribution, and a seeded sample of (prompt, draft, final) rows with
the changes marked word by word (``difflib``), filterable by round, level and audit outcome and
searchable, with the judge's scores beside each row when the round was audited. The page is
rendered from a Jinja2 template with autoescaping: run text (a draft holding ``<script>``) shows as
text. The markdown is escaped before it is converted, so names in it cannot inject HTML either.

The page's size is bounded by ``rows_per_level`` whatever the run's size: rows are drawn by
reservoir sampling while the revision files stream past, and only the sampled rows' audit lines
are kept.
"""
from __future__ import annotations

import base64
import html
import json
import logging
import random
import re
from collections.abc import Iterable, Iterator
from difflib import SequenceMatcher
from pathlib import Path

from ..data.io import atomic_write_text

__all__ = ["GROUPS", "OUTCOMES", "audit_outcome", "embed_images", "render_html", "row_group", "run_report",
           "sample_rows", "word_diff", "write_html_report"]

log = logging.getLogger(__name__)

GROUPS = ("KEEP", "MINOR", "MAJOR", "fallback")
OUTCOMES = ("preserved", "improved", "harmed", "unchanged")
_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")


def row_group(record: dict) -> str:
    """The level filter a revision falls under: its level, or ``fallback`` when it fell back
    (no tag, an empty or runaway revision: the draft stood unvetted)."""
    if record.get("fallback") or record.get("level") not in GROUPS:
        return "fallback"
    return record["level"]


def audit_outcome(draft_score: float | None, final_score: float | None, top_score: float | None) -> str | None:
    """``improved`` / ``harmed`` when the judge scored the final above / below the draft;
    ``preserved`` when both are at the top score; ``unchanged`` for an equal score below it;
    None when either score is missing (not audited, or the judge failed on it)."""
    if draft_score is None or final_score is None:
        return None
    if final_score > draft_score:
        return "improved"
    if final_score < draft_score:
        return "harmed"
    return "preserved" if top_score is not None and draft_score >= top_score else "unchanged"


def sample_rows(records: Iterable[dict], per_group: int, seed: int) -> tuple[list[dict], dict[str, int]]:
    """Up to ``per_group`` records of each :func:`row_group`, drawn uniformly (reservoir sampling,
    one pass, memory bounded by the sample), returned in their input order; and the count of
    every group seen."""
    rng = random.Random(seed)
    kept: dict[str, list[tuple[int, dict]]] = {g: [] for g in GROUPS}
    seen = dict.fromkeys(GROUPS, 0)
    for i, rec in enumerate(records):
        g = row_group(rec)
        seen[g] += 1
        if len(kept[g]) < per_group:
            kept[g].append((i, rec))
        else:
            j = rng.randrange(seen[g])
            if j < per_group:
                kept[g][j] = (i, rec)
    rows = sorted((pair for group in kept.values() for pair in group), key=lambda pair: pair[0])
    return [rec for _, rec in rows], seen


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """``[(op, text)]`` turning ``old`` into ``new`` word by word (whitespace and punctuation are
    tokens too): op is ``same``, ``del`` (only in old) or ``ins`` (only in new); joining the
    ``same`` + ``del`` texts gives ``old`` back, ``same`` + ``ins`` gives ``new``."""
    a, b = _TOKEN.findall(old or ""), _TOKEN.findall(new or "")
    out: list[tuple[str, str]] = []

    def add(op: str, text: str) -> None:
        if not text:
            return
        if out and out[-1][0] == op:
            out[-1] = (op, out[-1][1] + text)
        else:
            out.append((op, text))

    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            add("same", "".join(a[i1:i2]))
        else:
            add("del", "".join(a[i1:i2]))
            add("ins", "".join(b[j1:j2]))
    return out


def embed_images(markdown_text: str, base: Path) -> str:
    """Every ``![alt](relative.png)`` whose file exists under ``base`` points at a data URI instead."""
    def repl(m: re.Match) -> str:
        path = base / m.group(2)
        if not path.is_file():
            return m.group(0)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"![{m.group(1)}](data:image/png;base64,{data})"

    return _IMAGE.sub(repl, markdown_text)


def markdown_to_html(markdown_text: str, base: Path) -> str:
    """report.md as HTML: escaped first (names in it cannot inject markup), then converted."""
    import markdown

    return markdown.markdown(embed_images(html.escape(markdown_text, quote=False), base), extensions=["tables"])


def _lines(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def _round_rows(round_dir: Path, metrics: dict, per_group: int, seed: int) -> tuple[list[dict], dict[str, int]]:
    revisions = round_dir / "revisions.jsonl"
    if not revisions.is_file() or per_group == 0:
        return [], {}
    sample, seen = sample_rows(_lines(revisions), per_group, seed * 1000 + metrics["round"])
    wanted = {r["id"] for r in sample}
    scores = {}
    if (round_dir / "audit.jsonl").is_file():
        scores = {a["id"]: a for a in _lines(round_dir / "audit.jsonl") if a["id"] in wanted}
    top = ((metrics.get("audit") or {}).get("overall") or {}).get("top_score")
    rows = []
    for r in sample:
        a = scores.get(r["id"], {})
        prompt = r["prompt"] if isinstance(r["prompt"], str) else "\n".join(
            f"{m.get('role', '')}: {m.get('content', '')}" for m in r["prompt"])
        diff = word_diff(r.get("draft") or "", r.get("final") or "")
        rows.append({"round": metrics["round"], "id": r["id"], "group": row_group(r), "prompt": prompt,
                     "draft": [seg for seg in diff if seg[0] != "ins"], "final": [seg for seg in diff if seg[0] != "del"],
                     "changed": bool(r.get("changed")), "fallback": r.get("fallback"),
                     "draft_score": a.get("draft_score"), "final_score": a.get("final_score"),
                     "outcome": audit_outcome(a.get("draft_score"), a.get("final_score"), top) or "unjudged"})
    return rows, seen


def render_html(context: dict) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["score"] = lambda x: "-" if x is None else f"{x:.2f}"
    return env.get_template("report.html.j2").render(**context)


def write_html_report(out: Path, cfg, *, markdown_file: str = "report.md", title: str | None = None,
                      rounds: list[dict] | None = None, dest: Path | None = None) -> Path:
    """Write ``dest`` (default ``out/report.html``) from ``out/markdown_file`` and, for a run
    directory, its rounds' revisions and audit (``rounds``: their metrics.json, in order)."""
    md = out / markdown_file
    body = markdown_to_html(md.read_text(encoding="utf-8"), out) if md.is_file() else ""
    per_round, rows, total = [], [], 0
    for m in rounds or []:
        sampled, seen = _round_rows(out / "rounds" / f"round_{m['round']:02d}", m, cfg.rows_per_level, cfg.seed)
        rows += sampled
        levels = m.get("revision", {}).get("levels", {})
        n = max(sum(levels.values()), 1)
        per_round.append({"round": m["round"], "phase": m.get("phase"), "source": m.get("source"),
                          "levels": [(lv, levels.get(lv, 0), levels.get(lv, 0) / n) for lv in ("KEEP", "MINOR", "MAJOR", "none")],
                          "sampled": len(sampled), "seen": sum(seen.values()) or sum(levels.values())})
        total += per_round[-1]["seen"]
    context = {"title": title or f"SEFT run {out.name}", "body": body, "rounds": per_round, "rows": rows,
               "total": total, "groups": GROUPS, "outcomes": (*OUTCOMES, "unjudged"),
               "rows_per_level": cfg.rows_per_level, "seed": cfg.seed}
    return atomic_write_text(dest or out / "report.html", render_html(context))


def run_report(cfg) -> Path:
    """``seft report RUN_DIR``: rebuild the run's ``report.html`` from its files."""
    from ..config.core import ConfigError
    from .summary import collect_rounds

    if cfg.run_dir is None:
        raise ConfigError("run_dir: required (seft report RUN_DIR)")
    out = Path(cfg.run_dir)
    if not (out / "rounds").is_dir() and not (out / "report.md").is_file():
        raise FileNotFoundError(f"run_dir: {out} holds neither rounds/ nor report.md; is it a run directory? "
                                "(a run of several seeds has one per seed_<k>/ folder, and its comparison "
                                "writes compare/report.html)")
    path = write_html_report(out, cfg.html, rounds=collect_rounds(out), dest=Path(cfg.out) if cfg.out else None)
    log.info("report -> %s", path)
    return path
