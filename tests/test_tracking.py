"""Experiment tracking: a tracked tiny run leaves TensorBoard event files whose scalars carry each
stage's name (read back with tensorboard's own reader)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from seft.cli import main
from seft.config.common import TrackingConfig
from seft.tracking import log_metrics, open_tracker, scalar_metrics
from test_pipeline import run_config  # noqa: F401  (the tiny end-to-end run config fixture)


def _scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_scalar_metrics_flattens_numbers_only():
    got = scalar_metrics({"scores": {"eval": {"score": 0.5, "ci95": [0.4, 0.6], "n": 24}}, "phase": "internal",
                          "audit": {"overall": {"harm_rate": None, "preserved": 3}}, "ok": True,
                          "nan": float("nan")}, "seft")
    assert got == {"seft/scores/eval/score": 0.5, "seft/scores/eval/n": 24.0, "seft/audit/overall/preserved": 3.0}


def test_tensorboard_backend_round_trip(tmp_path):
    cfg = TrackingConfig(backend="tensorboard", dir=str(tmp_path), name="r1")
    log_metrics(cfg, {"a": 1.0, "b": {"c": 2}}, 3, "x")
    log_metrics(cfg, {"a": 4.0}, 4, "x")  # a second open of the same run adds to it
    assert _scalars(tmp_path / "r1") == {"x/a": [(3, 1.0), (4, 4.0)], "x/b/c": [(3, 2.0)]}
    assert open_tracker(TrackingConfig()) is None
    log_metrics(TrackingConfig(), {"a": 1.0}, 0)  # off: nothing, no error


@pytest.mark.parametrize("backend", ["wandb", "mlflow", "trackio"])
def test_missing_optional_tracker_says_how_to_install(backend, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, backend, None)  # as if not installed, whether it is or not
    with pytest.raises(Exception, match=rf"pip install 'seft\[{backend}\]'"):
        open_tracker(TrackingConfig(backend=backend, name="r"))


def test_tracked_run_logs_every_stage_into_one_run(run_config, tmp_path):  # noqa: F811
    conf = yaml.safe_load(run_config.read_text())
    conf["tracking"] = {"backend": "tensorboard", "name": "tiny"}
    conf["with_baselines"] = True
    conf["baselines"] = ["sft"]
    conf["baseline_train"] = {"epochs": 1.0, "batch_size": 8, "logging_steps": 1}
    run_config.write_text(yaml.safe_dump(conf))
    out = tmp_path / "run"
    assert main(["run", str(run_config), "--out", str(out)]) == 0
    runs = sorted(p.name for p in (out / "tracking").iterdir())
    assert runs == ["tiny"]  # one tracked run for the whole SEFT run
    s = _scalars(out / "tracking" / "tiny")
    for stage in ("reviser", "round_01", "round_02", "round_03", "baseline/sft"):
        assert s[f"{stage}/train/train_loss"], stage  # every training call's summary, at its last step
    # the loss curve, every logging_steps (2) of the reviser's 45 steps
    assert [step for step, _ in s["reviser/train/loss"]] == list(range(2, 46, 2))
    # every round's scores and audit, with the round as the step, from the base policy (step 0) on
    assert [step for step, _ in s["seft/scores/eval/score"]] == [0, 1, 2, 3]
    assert [step for step, _ in s["seft/audit/overall/judged"]] == [1, 2, 3]
    assert [v for _, v in s["seft/audit/overall/judged"]] == [16.0, 16.0, 16.0]
    assert s["baselines/sft/eval/score"][0][0] == 0
    # a resumed run may switch tracking off: tracking is not part of the run's identity
    assert main(["run", str(run_config), "--out", str(out), "--set", "tracking.backend=none"]) == 0


def test_stage_name_by_hand():
    from seft.tracking import stage_name

    assert stage_name("no_drafts", "round_01") == "no_drafts/round_01"
    assert stage_name(None, "reviser") == "reviser"
    assert stage_name("baseline", "dpo", None) == "baseline/dpo"
    assert stage_name(None, None) == ""
