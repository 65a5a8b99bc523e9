"""``seft run`` end to end on a tiny testbed: the summary contract, rerun, refusal, kill + resume."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from seft.cli import main

TINY_RUN = {
    "reviser_data": {"max_keep_share": 0.5},
    "reviser_train": {"train": {"epochs": 3.0, "batch_size": 8, "learning_rate": 0.01, "logging_steps": 2}},
    "evolve": {"prompts_per_round": 16, "shard_size": 8,
               "phases": [{"name": "internal", "source": "internal", "rounds": 2},
                          {"name": "external", "source": "external", "rounds": 1}],
               "draft": {"max_new_tokens": 12, "batch_size": 8},
               "revise": {"generation": {"max_new_tokens": 12, "batch_size": 8}},
               "train": {"epochs": 1.0, "batch_size": 8, "logging_steps": 2},
               "eval_max_new_tokens": 12},
}


@pytest.fixture
def run_config(tmp_path, tiny_testbed, tiny_testbed_settings):
    testbed = {"cache_dir": str(tiny_testbed.parent)}
    for item in tiny_testbed_settings:
        key, value = item.split("=", 1)
        node = testbed
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = yaml.safe_load(value)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY_RUN, "testbed": testbed}))
    return path


def _summary(out: Path) -> dict:
    return json.loads((out / "eval" / "summary.json").read_text())


def test_run_end_to_end_writes_the_contract(run_config, tmp_path, caplog, tiny_testbed):
    out = tmp_path / "run"
    assert main(["run", str(run_config), "--out", str(out)]) == 0
    s = _summary(out)
    assert s["judge"] == "testbed" and set(s["sets"]) == {"eval", "eval_ood"}
    for models in s["sets"].values():
        assert set(models) == {"base", "seft_round_1", "seft_round_2", "seft_round_3", "seft_final"}
        for m in models.values():
            assert set(m) == {"score", "ci95", "n"} and m["ci95"][0] <= m["score"] <= m["ci95"][1]
        assert models["seft_final"] == models["seft_round_3"]
    assert s["sets"]["eval"]["base"]["n"] == 24 and s["sets"]["eval_ood"]["base"]["n"] == 12
    for k in (1, 2, 3):
        rdir = out / "rounds" / f"round_{k:02d}"
        for name in ("drafts.jsonl", "revisions.jsonl", "train.jsonl", "metrics.json", "policy/train_metrics.json"):
            assert (rdir / name).exists(), (k, name)
        m = json.loads((rdir / "metrics.json").read_text())
        assert m["drafts"] == 16 and sum(m["revision"]["levels"].values()) == 16
    assert json.loads((out / "rounds" / "round_03" / "metrics.json").read_text())["source"] == "external"
    # the revision audit of every round: every draft judged against its prompt's reference, which the
    # judge alone sees (the drafts the reviser read carry none)
    for k in (1, 2, 3):
        rdir = out / "rounds" / f"round_{k:02d}"
        audit = json.loads((rdir / "metrics.json").read_text())["audit"]
        assert audit == json.loads((rdir / "audit.json").read_text())
        assert audit["overall"]["judged"] == audit["overall"]["n"] == 16 and audit["overall"]["top_score"] == 1.0
        assert sum(a["n"] for a in audit["levels"].values()) == 16
        assert all("reference" not in json.loads(x)["meta"] for x in (rdir / "drafts.jsonl").read_text().splitlines())
    # the likelihood margins were chosen on the dev set for this reviser, and the rounds used them
    cal = json.loads((out / "reviser" / "calibration.json").read_text())
    assert list(cal["kinds"]) == ["internal", "external"] and cal["dev_prompts"] > 0
    for k, kind in ((1, "internal"), (2, "internal"), (3, "external")):
        got = cal["kinds"][kind]
        assert [r["margin"] for r in got["rows"]] == [None, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
        margin = got["configured"] if got["margin"] is None else got["margin"]
        for r in map(json.loads, (out / "rounds" / f"round_{k:02d}" / "revisions.jsonl").read_text().splitlines()):
            if "logprob_draft" in r and abs(r["logprob_draft"] - (r["logprob_revision"] - margin)) > 1e-3:
                assert (r["final"] == r["draft"]) == (r["logprob_draft"] >= r["logprob_revision"] - margin), r
    # on your own data: calibration.dev chooses the internal phases' margin (external ones keep theirs)
    import dataclasses

    from seft.config.core import from_dict
    from seft.config.stages import RunConfig
    from seft.runs.calibration import run_calibration
    from seft.runs.single import resolve_paths

    rc = resolve_paths(from_dict(RunConfig, yaml.safe_load((out / "config.yaml").read_text())), tiny_testbed)
    own = tmp_path / "own"
    rc = dataclasses.replace(rc, out=str(own), calibration=dataclasses.replace(
        rc.calibration, dev=str(tiny_testbed / "eval.jsonl"), n=10))
    got = run_calibration(rc, None)
    assert list(got["kinds"]) == ["internal"] and got["dev_prompts"] == 10 and got["kinds"]["internal"]["drafts"] == 10
    assert json.loads((own / "reviser" / "calibration.json").read_text()) == got
    report = (out / "report.md").read_text()
    assert "## Likelihood margins chosen on dev" in report
    assert "| seft_final |" in report and (out / "plots" / "score_by_round.png").stat().st_size > 1000
    assert "## Revision audit" in report and "| 3 | external |" in report
    page = (out / "report.html").read_text()  # the same tables, plots inlined, and rows of every round
    assert "<table>" in page and "data:image/png;base64," in page and 'src="plots/' not in page
    assert {f'data-round="{k}"' for k in (1, 2, 3)} <= set(re.findall(r'data-round="\d+"', page))
    assert yaml.safe_load((out / "config.yaml").read_text())["evolve"]["prompts_per_round"] == 16
    # drafts of round 2 are fresh prompts, not round 1's
    ids = [{json.loads(x)["id"] for x in (out / "rounds" / f"round_0{k}" / "drafts.jsonl").read_text().splitlines()}
           for k in (1, 2)]
    assert not ids[0] & ids[1]

    # the revise stage on its own, from the CLI, with the run's reviser
    assert main(["revise", "--set", f"reviser={out / 'reviser' / 'model'}", "--set",
                 f"input={tiny_testbed / 'external.jsonl'}", "--out", str(tmp_path / "rev.jsonl")]) == 0
    revised = [json.loads(x) for x in (tmp_path / "rev.jsonl").read_text().splitlines()]
    assert len(revised) == 32 and all(set(r) >= {"prompt", "draft", "level", "final", "changed", "fallback"}
                                      for r in revised)
    assert all(r["final"] == r["draft"] for r in revised if r["level"] == "KEEP" or r["fallback"])

    # ... and with a judge, its audit: perfect drafts (the references) and empty ones
    evals = [json.loads(x) for x in (tiny_testbed / "eval.jsonl").read_text().splitlines()][:10]
    drafts = [{"id": r["id"], "prompt": r["prompt"], "response": r["meta"]["reference"] if i % 2 else "x",
               "meta": r["meta"]} for i, r in enumerate(evals)]
    (tmp_path / "drafts.jsonl").write_text("".join(json.dumps(d) + "\n" for d in drafts))
    assert main(["revise", "--set", f"reviser={out / 'reviser' / 'model'}", "--set", f"input={tmp_path / 'drafts.jsonl'}",
                 "--set", "judge.kind=testbed", "--out", str(tmp_path / "rev2.jsonl")]) == 0
    audit = json.loads((tmp_path / "rev2.audit.json").read_text())["overall"]
    assert audit["n"] == audit["judged"] == 10 and audit["top_drafts"] == 5
    assert len((tmp_path / "rev2.audit.jsonl").read_text().splitlines()) == 10

    before = (out / "state.json").read_text()
    caplog.clear()
    with caplog.at_level("INFO"):
        assert main(["run", str(run_config), "--out", str(out)]) == 0
    assert "nothing to do" in caplog.text and (out / "state.json").read_text() == before


def test_changed_config_is_refused(run_config, tmp_path, capsys):
    out = tmp_path / "run"
    (out).mkdir()
    (out / "config.yaml").write_text(yaml.safe_dump({"evolve": {"prompts_per_round": 3}}))
    assert main(["run", str(run_config), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "different config" in err and "evolve.prompts_per_round" in err


def _done(out: Path) -> list[str]:
    try:
        return json.loads((out / "state.json").read_text())["done"]
    except (OSError, ValueError):
        return []


def _run_killed_at(config: Path, out: Path, marker, timeout: float = 240) -> bool:
    """Start ``seft run``; SIGKILL it as soon as ``marker(out, done_at_start)`` holds.
    True if it was killed, False if it finished first."""
    done_at_start = len(_done(out))
    proc = subprocess.Popen([sys.executable, "-m", "seft", "-q", "run", str(config), "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.time()
    while proc.poll() is None and time.time() - t0 < timeout:
        if marker(out, done_at_start):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.02)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("run did not finish in time")
    assert proc.returncode == 0
    return False


def test_killed_run_resumes_to_the_same_summary(run_config, tmp_path):
    """SIGKILL at several points (right after units complete, and inside a sharded generation);
    the resumed run ends with exactly the summary of an uninterrupted one."""
    never = lambda out, start: False  # noqa: E731
    ref = tmp_path / "ref"
    assert not _run_killed_at(run_config, ref, never)
    out = tmp_path / "killed"
    after_units = lambda n: lambda o, start: len(_done(o)) >= start + n  # noqa: E731
    # Inside round 1's sharded generation, or (if that slipped by between polls) two units later.
    mid_shards = lambda o, start: (any((o / "rounds").glob("round_*/.*.shards/*.jsonl"))  # noqa: E731
                                   or after_units(2)(o, start))
    kills = [_run_killed_at(run_config, out, point) for point in
             (after_units(1), after_units(2), mid_shards, after_units(2), after_units(2))]
    assert all(kills), kills  # 9 of the run's 13 units at most: every point is reached before the end
    assert not _run_killed_at(run_config, out, never)
    assert "complete" in _done(out)
    assert _summary(out) == _summary(ref)


def test_seft_without_drafts_is_a_baseline_row(run_config, tmp_path):
    """--with-baselines runs the ablation: a whole SEFT run whose reviser never sees a draft. Its
    eval_ood is a final-only set: scored for base, the last round and the baselines only."""
    out = tmp_path / "run"
    # a sweep of the other baselines (none listed here) must not reach the ablation's own run
    # SFT first: its marks in the run's state.json must not erase the evolution's (eval/base, rounds)
    assert main(["run", str(run_config), "--out", str(out), "--with-baselines", "--set", "baselines=[sft, no_drafts]",
                 "--set", "baseline_beta_sweep=[0.1, 0.5]", "--set", "baseline_pair_mode_sweep=[best_vs_each]",
                 "--set", "evolve.final_only_sets=[eval_ood]"]) == 0
    s = _summary(out)
    rounds = {"eval": {"seft_round_1", "seft_round_2"}, "eval_ood": set()}
    for name, models in s["sets"].items():
        assert set(models) == {"base", "seft_round_3", "seft_final", "sft", "no_drafts"} | rounds[name]
        assert models["no_drafts"] == _summary(out / "baselines" / "no_drafts")["sets"][name]["seft_final"]
        assert _summary(out / "baselines" / "no_drafts")["sets"][name]["base"] == models["base"]
        assert len((out / "eval" / "no_drafts" / f"{name}.jsonl").read_text().splitlines()) == models["no_drafts"]["n"]
    data = [json.loads(x) for x in (out / "baselines" / "no_drafts" / "reviser" / "data.jsonl").read_text().splitlines()]
    own = [json.loads(x) for x in (out / "reviser" / "data.jsonl").read_text().splitlines()]
    assert [e["id"] for e in data] == [e["id"] for e in own]  # the same examples ...
    assert all("Draft: \n" in e["prompt"][0]["content"] and e["completion"].startswith("[MAJOR]\n") for e in data)
    revs = [json.loads(x) for x in (out / "baselines" / "no_drafts" / "rounds" / "round_01" / "revisions.jsonl")
            .read_text().splitlines()]
    assert len(revs) == 16  # ... and the same rounds, on the teacher's answers
    # the teacher's margins are chosen for the teacher, by the same rule, from the margins as configured
    own_cal = json.loads((out / "reviser" / "calibration.json").read_text())
    cal = json.loads((out / "baselines" / "no_drafts" / "reviser" / "calibration.json").read_text())
    assert list(cal["kinds"]) == list(own_cal["kinds"]) == ["internal", "external"]
    assert [g["configured"] for g in cal["kinds"].values()] == [g["configured"] for g in own_cal["kinds"].values()]
    state = json.loads((out / "baselines" / "no_drafts" / "state.json").read_text())
    assert state["info"]["eval/base"] == {"adopted_from": str(out / "eval" / "base")}  # not evaluated twice
    assert {"eval/base", "round_03/policy", "baseline/sft", "baseline/no_drafts"} <= set(_done(out))
    cost = json.loads((out / "baselines" / "no_drafts" / "cost.json").read_text())
    assert cost["forward_passes"] > 0 and cost["gen_sequences"] == 16 * 2 * 2 + 16
    assert main(["compare", "--set", f"runs=[{out}]", "--out", str(tmp_path / "cmp")]) == 0
    text = (tmp_path / "cmp" / "compare.md").read_text()
    assert "| no_drafts |" in text and "## Revision audit" in text
    for k, sets in ((1, {"eval"}), (2, {"eval"}), (3, {"eval", "eval_ood"})):
        assert set(json.loads((out / "rounds" / f"round_0{k}" / "metrics.json").read_text())["scores"]) == sets
    report = (out / "report.md").read_text()
    assert re.search(r"\| seft_round_1 \| [0-9.]+ \[[0-9., ]+\] \| — \|", report)
    assert (out / "plots" / "score_by_round.png").stat().st_size > 1000
