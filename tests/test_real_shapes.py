"""`seft run` on the tiny testbed with every input in a published dataset's shape.

Six runs rotate the six published shapes over the inputs, so that each input kind is read in every
shape that carries it: preferences as UltraFeedback, UltraFeedback-binarized (Parquet), Nectar and
HH-RLHF; prompts, external responses and eval sets as all six. Judged by a Python function, since
the testbed judge's meta.task does not survive those shapes (the answer does, as meta.reference)."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from seft.cli import main
from seft.testbed.splits import reference_of
from test_pipeline import run_config  # noqa: F401  (the tiny end-to-end run config fixture)

SHAPES = ["ultrafeedback", "ultrafeedback_binarized", "nectar", "hh_rlhf", "alpaca", "sharegpt"]
PREFERENCE_SHAPES = SHAPES[:4]
WRONG = "wrong"  # the worse answer in shapes that hold two


def _read(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def _human(text: str, answer: str | None = None) -> str:
    return f"\n\nHuman: {text}\n\nAssistant:" + (f" {answer}" if answer is not None else "")


def answered(shape: str, prompt: str, answer: str, i: int) -> dict:
    """One (prompt, answer) as a row of ``shape``; shapes with two answers get a worse one too."""
    user = {"role": "user", "content": prompt}
    return {
        "ultrafeedback": {"source": "testbed", "instruction": prompt,
                          "completions": [{"model": "weak", "response": WRONG, "overall_score": 2.0},
                                          {"model": "strong", "response": answer, "overall_score": 9.5}]},
        "ultrafeedback_binarized": {"prompt": prompt, "prompt_id": f"p{i}",
                                    "chosen": [user, {"role": "assistant", "content": answer}],
                                    "rejected": [user, {"role": "assistant", "content": WRONG}]},
        "nectar": {"prompt": _human(prompt), "answers": [{"answer": answer, "model": "strong", "rank": 1.0},
                                                         {"answer": WRONG, "model": "weak", "rank": 2.0}]},
        "hh_rlhf": {"chosen": _human(prompt, answer), "rejected": _human(prompt, WRONG)},
        "alpaca": {"instruction": prompt, "input": "", "output": answer},
        "sharegpt": {"id": f"conv_{i}", "conversations": [{"from": "human", "value": prompt},
                                                          {"from": "gpt", "value": answer}]},
    }[shape]


def preferences(shape: str, prefs: list[dict]) -> list[dict]:
    """The testbed's scored lists (scores in [0, 1]) as rows of a preference shape."""
    rows = []
    for p in prefs:
        order = sorted(p["responses"], key=lambda r: -r["score"])
        best, worst = order[0], order[-1]
        if shape == "ultrafeedback":
            rows.append({"instruction": p["prompt"], "completions": [
                {"response": r["text"], "overall_score": 1 + 9 * r["score"], "model": r["source"]} for r in order]})
        elif shape == "nectar":
            rows.append({"prompt": _human(p["prompt"]), "answers": [
                {"answer": r["text"], "model": r["source"], "rank": float(k + 1)} for k, r in enumerate(order)]})
        elif shape == "ultrafeedback_binarized":
            user = {"role": "user", "content": p["prompt"]}
            rows.append({"prompt": p["prompt"], "prompt_id": p["id"],
                         "chosen": [user, {"role": "assistant", "content": best["text"]}],
                         "rejected": [user, {"role": "assistant", "content": worst["text"]}],
                         "score_chosen": 1 + 9 * best["score"], "score_rejected": 1 + 9 * worst["score"]})
        else:  # hh_rlhf
            rows.append({"chosen": _human(p["prompt"], best["text"]), "rejected": _human(p["prompt"], worst["text"])})
    return rows


def write(path: Path, rows: list[dict]) -> str:
    if path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows))
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _suffix(shape: str) -> str:
    return {"alpaca": ".json", "sharegpt": ".json", "ultrafeedback_binarized": ".parquet"}.get(shape, ".jsonl")


COMBOS = [(PREFERENCE_SHAPES[i % 4], SHAPES[i], SHAPES[(i + 2) % 6], SHAPES[(i + 4) % 6]) for i in range(6)]


def test_every_input_kind_meets_every_shape():
    for kind in (1, 2, 3):
        assert sorted(c[kind] for c in COMBOS) == sorted(SHAPES)
    assert sorted({c[0] for c in COMBOS}) == sorted(PREFERENCE_SHAPES)


@pytest.mark.parametrize("prefs_shape, prompts_shape, external_shape, eval_shape", COMBOS)
def test_run_on_published_shapes(run_config, tmp_path, tiny_testbed, prefs_shape, prompts_shape,  # noqa: F811
                                 external_shape, eval_shape):
    tb = tiny_testbed
    manifest = json.loads((tb / "manifest.json").read_text())
    prefs, prompts, external, evals = (_read(tb / f"{n}.jsonl") for n in ("preferences", "prompts", "external", "eval"))
    prompt_refs = [reference_of(manifest["seed"], manifest["tasks"], r["id"], r["prompt"]) for r in prompts]
    data = tmp_path / "data"
    data.mkdir()
    files = {
        "prefs": write(data / f"prefs{_suffix(prefs_shape)}", preferences(prefs_shape, prefs)),
        "prompts": write(data / f"prompts{_suffix(prompts_shape)}",
                         [answered(prompts_shape, r["prompt"], a, i) for i, (r, a) in enumerate(zip(prompts, prompt_refs))]),
        "external": write(data / f"external{_suffix(external_shape)}",
                          [answered(external_shape, r["prompt"], r["response"], i) for i, r in enumerate(external)]),
        "eval": write(data / f"eval{_suffix(eval_shape)}",
                      [answered(eval_shape, r["prompt"], r["meta"]["reference"], i) for i, r in enumerate(evals)]),
    }
    conf = yaml.safe_load(run_config.read_text())
    conf["reviser_data"].update(preferences=files["prefs"], format=prefs_shape)
    conf["reviser_train"]["train"]["epochs"] = 10.0  # a pair gives 2 examples, not 5: more passes to learn the tags
    conf["evolve"].update(prompts=files["prompts"], prompts_format=prompts_shape,
                          external=files["external"], external_format=external_shape,
                          eval_sets={"mine": files["eval"]}, eval_format=eval_shape,
                          phases=[{"name": "internal", "source": "internal", "rounds": 1},
                                  {"name": "external", "source": "external", "rounds": 1}],
                          judge={"kind": "python", "function": "judge_functions:testbed_score"})
    run_config.write_text(yaml.safe_dump(conf))
    out = tmp_path / "run"
    assert main(["run", str(run_config), "--out", str(out)]) == 0

    summary = json.loads((out / "eval" / "summary.json").read_text())
    assert summary["judge"] == "python:judge_functions:testbed_score"
    assert summary["sets"]["mine"]["base"]["n"] == len(evals) and "seft_final" in summary["sets"]["mine"]
    stats = json.loads((out / "reviser" / "data.stats.json").read_text())
    assert stats["format"] == prefs_shape and stats["records"] == len(prefs)
    # the external round's drafts are the external answers (the best one where the shape holds two)
    drafts = _read(out / "rounds" / "round_02" / "drafts.jsonl")
    assert [d["draft"] for d in drafts] == [r["response"] for r in external[:16]]
    # round 1's prompts are the file's first 16, and their answers reach the judge (the audit) but
    # not the policy's input
    round1 = _read(out / "rounds" / "round_01" / "drafts.jsonl")
    texts = [d["prompt"] if isinstance(d["prompt"], str) else d["prompt"][-1]["content"] for d in round1]
    assert texts == [r["prompt"] for r in prompts[:16]]
    assert json.loads((out / "rounds" / "round_01" / "audit.json").read_text())["overall"]["judged"] == 16
