"""``seft prompts fetch`` and ``seft eval``: real prompt sets, answered by a model, graded by a judge.

``seft eval`` answers every prompt greedily; a multi-turn record (``meta.turns``, MT-Bench) is
answered turn by turn, each turn seeing the model's own earlier answers. Then it grades:

* **single**: the judge rates every turn's answer on its own. An API judge rates on MT-Bench's
  1-10 scale, summarised per turn and per category as MT-Bench reports it.
* **pairwise**: the judge prefers the model's first-turn answer or the reference's, giving the
  raw and the length-controlled win rate, AlpacaEval style.

A judgment the judge could not give is None: counted as missing, never as 0, and never a crash.
Answers are saved in shards, so a killed run resumes where it stopped and finished answers are
never generated again. A rerun grades again: an API judge answers from its cache and asks anew
only what failed before.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from ..config.core import ConfigError, diff_configs, dump_yaml, to_dict
from ..config.evaluation import PROMPT_SETS, EvalConfig, PromptSetsConfig
from ..data.benchsets import fetch_prompt_sets, prompt_set_path
from ..data.errors import DataError
from ..data.io import atomic_write_json, atomic_write_text, iter_jsonl_raw, write_jsonl
from ..data.shards import map_sharded
from ..data.state import ConfigMismatch
from ..judges import get_judge
from .grading import conversation, follow_ups, grade_pairwise, grade_single, pairwise_summary, single_summary, summary_line
from .metrics import length_stats, mean_length

__all__ = ["run_prompt_sets", "run_eval"]

log = logging.getLogger(__name__)

# Settings the answers depend on: changing one of them makes the saved answers stale.
_ANSWER_KEYS = ("model", "prompts", "limit", "generation")
_OUTPUTS = ("answers.jsonl", "reference_answers.jsonl", "judgments.jsonl", "summary.json")


def run_prompt_sets(cfg: PromptSetsConfig) -> Path:
    """Fetch the prompt sets (once) and return the folder that holds them."""
    return fetch_prompt_sets(cfg.sets, folder=cfg.out or cfg.cache_dir, archives=cfg.archives, force=cfg.force)


def run_eval(cfg: EvalConfig, *, models=None) -> Path:
    """Answer, grade, summarise; returns ``out``. ``models`` is anything with
    ``generator(path, batch_size)`` (default: a fresh model cache, each model loaded once)."""
    from ..generation.factory import check_backend

    for key in ("model", "out"):
        if getattr(cfg, key) is None:
            raise ConfigError(f"{key}: required for `seft eval` (e.g. --set {key}=...)")
    check_backend(cfg.generation)
    records = _load_prompts(cfg)
    reference = _reference_plan(cfg, records)
    single, pairwise = _grading(cfg.grading, any(follow_ups(r) for r in records), reference is not None)
    _check_judge(cfg, records)
    out = Path(cfg.out)
    _open_out(out, cfg)
    if models is None:
        from ..generation.factory import GeneratorCache

        models = GeneratorCache(cfg.generation)

    answers = _answer(cfg.model, records, out / "answers.jsonl", cfg, models, label="eval")
    texts = [t for a in answers for t in a["answers"]]
    summary: dict = {"model": cfg.model, "prompts": cfg.prompts, "n_prompts": len(records),
                     "mean_length": mean_length(texts), "length": _lengths(answers)}
    judge = get_judge(cfg.judge)
    summary["judge"] = getattr(judge, "name", cfg.judge.kind)
    judgments: list[dict] = []
    if single:
        rows = grade_single(judge, records, answers)
        judgments += rows
        summary["single"] = single_summary(rows, on_1_to_10=cfg.judge.kind == "openai")
    if pairwise:
        ref_texts, ref_name = _resolve_reference(reference, cfg, records, out, models)
        rows = grade_pairwise(judge, records, answers, ref_texts)
        judgments += rows
        summary["pairwise"] = pairwise_summary(rows, ref_name, ref_texts)
    if getattr(judge, "stats", None):
        summary["judge_stats"] = dict(judge.stats)
    write_jsonl(out / "judgments.jsonl", judgments)
    atomic_write_json(out / "summary.json", summary)
    missing = sum(1 for j in judgments if j.get("score", j.get("preference")) is None)
    if missing:
        log.warning("%d of %d judgments failed and are left out (counted as missing); rerun to ask again",
                    missing, len(judgments))
    log.info("eval of %s on %s: %s", cfg.model, cfg.prompts, summary_line(summary))
    return out


def _load_prompts(cfg: EvalConfig) -> list[dict]:
    from ..data.readers import load_records

    source = prompt_set_path(cfg.prompts, cfg.cache_dir) if cfg.prompts in PROMPT_SETS else cfg.prompts
    records = [r.to_dict() for r in load_records(source, "prompts", format=cfg.prompts_format).records]
    return records[:cfg.limit] if cfg.limit else records


def _grading(mode: str, multi_turn: bool, has_reference: bool) -> tuple[bool, bool]:
    if mode == "auto":
        return multi_turn or not has_reference, has_reference
    single, pairwise = mode in ("single", "both"), mode in ("pairwise", "both")
    if pairwise and not has_reference:
        raise ConfigError("grading: pairwise grading needs reference answers: set reference_model (an answers "
                          "file or a model), or use a set that ships them (alpaca_eval)")
    return single, pairwise


def _check_judge(cfg: EvalConfig, records: list[dict]) -> None:
    if cfg.judge.kind != "testbed":
        return
    for r in records:
        if not {"task", "reference"} <= set(r.get("meta") or {}):
            raise ConfigError(f"judge.kind: the testbed judge scores only testbed sets (records with meta.task and "
                              f"meta.reference), not {r['id']}; for real prompt sets use judge.kind=openai with "
                              "judge.model and judge.base_url, or judge.kind=reward_model with judge.model")


def _open_out(out: Path, cfg: EvalConfig) -> None:
    """Refuse an ``out`` whose answers were made with other settings, unless ``force`` (which
    deletes only this command's own files); judge settings may change freely."""
    cfg_path = out / "config.yaml"
    if cfg.force:
        for name in _OUTPUTS:
            _drop(out / name)
    elif cfg_path.exists():
        import yaml

        old = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}
        changed = [k for k in diff_configs(old, to_dict(cfg))
                   if k.split(".")[0] in _ANSWER_KEYS and k != "generation.batch_size"]
        if changed:
            raise ConfigMismatch(f"{out} holds answers made with other settings (changed: {', '.join(changed)}); "
                                 "use another --out, or --force to answer again")
        if old.get("reference_model") != cfg.reference_model:
            _drop(out / "reference_answers.jsonl")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cfg_path, dump_yaml(cfg))


def _drop(path: Path) -> None:
    path.unlink(missing_ok=True)
    shutil.rmtree(path.with_name(f".{path.name}.shards"), ignore_errors=True)  # map_sharded's partial work


def _answer(model: str, records: list[dict], path: Path, cfg: EvalConfig, models, *, label: str,
            first_turn_only: bool = False) -> list[dict]:
    """``{"id", "prompt", "answers": [one per turn], "generator"}`` per record, saved in shards."""
    from ..generation.base import sampling_params

    items = [{**r, "index": i} for i, r in enumerate(records)]

    def answer(chunk: list[dict]) -> list[dict]:
        gen = models.generator(model, cfg.generation.batch_size)
        # Seeded by the chunk's first index, so a resumed shard samples exactly as before.
        params = sampling_params(cfg.generation, seed=cfg.generation.seed + chunk[0]["index"])
        answers = [[t] for t in gen.generate([c["prompt"] for c in chunk], params, desc=f"{label}: turn 1")]
        n_turns = 0 if first_turn_only else max(len(follow_ups(c)) for c in chunk)
        for k in range(1, n_turns + 1):
            todo = [i for i, c in enumerate(chunk) if len(follow_ups(c)) >= k]
            texts = gen.generate([conversation(chunk[i], answers[i]) for i in todo], params,
                                 desc=f"{label}: turn {k + 1}")
            for i, t in zip(todo, texts):
                answers[i].append(t)
        return [{"id": c["id"], "prompt": c["prompt"], "answers": a, "generator": model} for c, a in zip(chunk, answers)]

    rows = map_sharded(path, items, answer, shard_size=cfg.shard_size)
    if [r["id"] for r in rows] != [r["id"] for r in records]:
        raise ConfigMismatch(f"{path} answers other prompts than {cfg.prompts} now holds; use another --out, "
                             "or --force to answer again")
    return rows


def _lengths(answers: list[dict]) -> dict:
    n_turns = max(len(a["answers"]) for a in answers)
    return {f"turn_{t}": length_stats([a["answers"][t - 1] for a in answers if len(a["answers"]) >= t])
            for t in range(1, n_turns + 1)}


# ----------------------------------------------------------------------------- references
def _reference_plan(cfg: EvalConfig, records: list[dict]):
    """``(texts, name)`` known up front, ``("model", path)`` to generate later, or None."""
    if cfg.reference_model is None:
        metas = [r.get("meta") or {} for r in records]
        if records and all(isinstance(m.get("reference_output"), str) for m in metas):
            generators = sorted({str(m.get("reference_generator")) for m in metas})
            return [m["reference_output"] for m in metas], f"{cfg.prompts} reference outputs ({', '.join(generators)})"
        return None
    path = Path(cfg.reference_model)
    if path.is_file():
        return _answers_from_file(path, records), str(path)
    return "model", cfg.reference_model


def _resolve_reference(plan, cfg, records, out, models) -> tuple[list[str], str]:
    if plan[0] != "model":
        return plan
    rows = _answer(plan[1], records, out / "reference_answers.jsonl", cfg, models, label="reference",
                   first_turn_only=True)
    return [r["answers"][0] for r in rows], plan[1]


def _answers_from_file(path: Path, records: list[dict]) -> list[str]:
    """First-turn answers from a JSONL/JSON file, matched by ``id``, else by ``instruction`` = the
    prompt text (AlpacaEval's model_outputs.json)."""
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError) as err:
            raise DataError(f"not a readable JSON file: {err}", path=str(path)) from None
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            data = data["data"]
        if not isinstance(data, list):
            raise DataError("expected a JSON array of answer rows", path=str(path))
        rows = [({"row": i}, row) for i, row in enumerate(data)]
    else:
        rows = [({"line": n}, row) for n, row in iter_jsonl_raw(path)]
    by_id, by_instruction = {}, {}
    for loc, row in rows:
        if not isinstance(row, dict):
            raise DataError("expected a JSON object", path=str(path), **loc)
        answers = row.get("answers")
        text = answers[0] if isinstance(answers, list) and answers else row.get("response", row.get("output"))
        if not isinstance(text, str):
            raise DataError("expected `answers` (a list of strings), `response` or `output`", path=str(path), **loc)
        if row.get("id") is not None:
            by_id[str(row["id"])] = text
        if isinstance(row.get("instruction"), str):
            by_instruction[row["instruction"]] = text
    texts, missing = [], []
    for r in records:
        text = by_id.get(r["id"])
        if text is None and isinstance(r["prompt"], str):
            text = by_instruction.get(r["prompt"])
        texts.append(text)
        if text is None:
            missing.append(r["id"])
    if missing:
        raise DataError(f"no reference answer for {len(missing)} of {len(records)} prompts (first: {missing[0]}); "
                        "rows are matched by `id`, else by `instruction` = the prompt text", path=str(path))
    return texts
