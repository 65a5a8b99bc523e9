"""`seft run` on the tiny testbed with every input in a published dataset's shape: preferences as
Nectar / UltraFeedback-binarized, prompts as an Alpaca JSON array / ShareGPT, external responses as
ShareGPT / UltraFeedback, eval sets as Alpaca / ShareGPT; judged by a Python function, since the
testbed judge's meta.task does not survive those shapes."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from seft.cli import main
from seft.testbed.splits import reference_of
from test_pipeline import run_config  # noqa: F401  (the tiny end-to-end run config fixture)


def _read(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def _references(testbed: Path, records: list[dict]) -> list[str]:
    m = json.loads((testbed / "manifest.json").read_text())
    return [r["meta"].get("reference") or reference_of(m["seed"], m["tasks"], r["id"], r["prompt"]) for r in records]


def _human(text: str) -> str:
    return f"\n\nHuman: {text}\n\nAssistant:"


def _nectar(prefs: list[dict]) -> list[dict]:
    rows = []
    for p in prefs:
        order = sorted(p["responses"], key=lambda r: -r["score"])
        rows.append({"prompt": _human(p["prompt"]), "turns": 1, "good_natured": True,
                     "answers": [{"answer": r["text"], "model": r["source"], "rank": float(i + 1)}
                                 for i, r in enumerate(order)]})
    return rows


def _uf_binarized(prefs: list[dict]) -> list[dict]:
    rows = []
    for p in prefs:
        order = sorted(p["responses"], key=lambda r: -r["score"])
        best, worst = order[0], order[-1]
        rows.append({"prompt": p["prompt"], "prompt_id": p["id"],
                     "chosen": [{"role": "user", "content": p["prompt"]}, {"role": "assistant", "content": best["text"]}],
                     "rejected": [{"role": "user", "content": p["prompt"]},
                                  {"role": "assistant", "content": worst["text"]}],
                     "score_chosen": 1 + 9 * best["score"], "score_rejected": 1 + 9 * worst["score"]})
    return rows


def _alpaca(records: list[dict], refs: list[str]) -> list[dict]:
    return [{"instruction": r["prompt"], "input": "", "output": ref} for r, ref in zip(records, refs)]


def _sharegpt(records: list[dict], answers: list[str | None]) -> list[dict]:
    out = []
    for i, (r, a) in enumerate(zip(records, answers)):
        turns = [{"from": "human", "value": r["prompt"]}] + ([{"from": "gpt", "value": a}] if a is not None else [])
        out.append({"id": f"conv_{i}", "conversations": turns})
    return out


def _ultrafeedback(external: list[dict]) -> list[dict]:
    # the strong writer's answer scored best, a wrong one below it: the best must be the one used
    return [{"source": "testbed", "instruction": r["prompt"], "models": ["strong", "weak"],
             "completions": [{"model": "weak", "response": "wrong", "overall_score": 2.0},
                             {"model": "strong", "response": r["response"], "overall_score": 9.5}]}
            for r in external]


def _configure(run_config: Path, **evolve) -> None:  # noqa: F811
    conf = yaml.safe_load(run_config.read_text())
    conf["evolve"].update(evolve, phases=[{"name": "internal", "source": "internal", "rounds": 1},
                                          {"name": "external", "source": "external", "rounds": 1}],
                          judge={"kind": "python", "function": "judge_functions:testbed_score"})
    run_config.write_text(yaml.safe_dump(conf))


def _check_run(out: Path, eval_n: int, external_drafts: list[str]) -> dict:
    summary = json.loads((out / "eval" / "summary.json").read_text())
    assert summary["judge"] == "python:judge_functions:testbed_score"
    assert summary["sets"]["mine"]["base"]["n"] == eval_n and "seft_final" in summary["sets"]["mine"]
    drafts = _read(out / "rounds" / "round_02" / "drafts.jsonl")
    assert [d["draft"] for d in drafts] == external_drafts
    audit = json.loads((out / "rounds" / "round_01" / "audit.json").read_text())
    assert audit["overall"]["judged"] == 16  # Alpaca/ShareGPT answers reach the judge as meta.reference
    return summary


def test_run_on_nectar_alpaca_sharegpt(run_config, tmp_path, tiny_testbed):  # noqa: F811
    tb = tiny_testbed
    prefs, prompts, external, evals = (_read(tb / f"{n}.jsonl") for n in ("preferences", "prompts", "external", "eval"))
    data = tmp_path / "data"
    data.mkdir()
    (data / "nectar.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _nectar(prefs)))
    (data / "prompts.json").write_text(json.dumps(_alpaca(prompts, _references(tb, prompts))))
    (data / "external.json").write_text(json.dumps(_sharegpt(external, [r["response"] for r in external])))
    (data / "eval.json").write_text(json.dumps(_alpaca(evals, _references(tb, evals))))
    conf = yaml.safe_load(run_config.read_text())
    conf["reviser_data"].update(preferences=str(data / "nectar.jsonl"), format="nectar")
    run_config.write_text(yaml.safe_dump(conf))
    _configure(run_config, prompts=str(data / "prompts.json"), prompts_format="alpaca",
               external=str(data / "external.json"), external_format="sharegpt",
               eval_sets={"mine": str(data / "eval.json")}, eval_format="alpaca")
    out = tmp_path / "run"
    assert main(["run", str(run_config), "--out", str(out)]) == 0
    _check_run(out, len(evals), [r["response"] for r in external[:16]])
    stats = json.loads((out / "reviser" / "data.stats.json").read_text())
    assert stats["format"] == "nectar" and stats["records"] == len(prefs)
    # the policy never saw a reference: the prompts' answers stay in meta, which drafts do not show
    assert all(isinstance(d["prompt"], str) for d in _read(out / "rounds" / "round_01" / "drafts.jsonl"))


def test_run_on_ultrafeedback_parquet_and_sharegpt(run_config, tmp_path, tiny_testbed):  # noqa: F811
    tb = tiny_testbed
    prefs, prompts, external, evals = (_read(tb / f"{n}.jsonl") for n in ("preferences", "prompts", "external", "eval"))
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.Table.from_pylist(_uf_binarized(prefs)), data / "prefs.parquet")
    (data / "prompts.json").write_text(json.dumps(_sharegpt(prompts, _references(tb, prompts))))
    (data / "external.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _ultrafeedback(external)))
    (data / "eval.json").write_text(json.dumps(_sharegpt(evals, _references(tb, evals))))
    conf = yaml.safe_load(run_config.read_text())
    conf["reviser_data"].update(preferences=str(data / "prefs.parquet"), format="ultrafeedback_binarized")
    conf["reviser_train"]["train"]["epochs"] = 10.0  # a pair gives 2 examples, not 5: more passes to learn the tags
    run_config.write_text(yaml.safe_dump(conf))
    _configure(run_config, prompts=str(data / "prompts.json"), prompts_format="sharegpt",
               external=str(data / "external.jsonl"), external_format="ultrafeedback",
               eval_sets={"mine": str(data / "eval.json")}, eval_format="sharegpt")
    out = tmp_path / "run"
    assert main(["run", str(run_config), "--out", str(out)]) == 0
    _check_run(out, len(evals), [r["response"] for r in external[:16]])
    assert json.loads((out / "reviser" / "data.stats.json").read_text())["kind"] == "pairs"
