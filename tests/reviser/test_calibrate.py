"""Choosing the likelihood margin on dev: every margin as a threshold over one revision pass."""
import pytest

from seft.reviser.calibrate import choose_margin, margin_rows


def rec(i, draft, revision=None, lp_draft=None, lp_rev=None):
    r = {"id": str(i), "level": "MINOR" if revision else "KEEP", "draft": draft, "final": draft}
    if revision is not None:  # revised with the decision deferred: the draft stood, the text is kept
        r.update(revision=revision, logprob_draft=lp_draft, logprob_revision=lp_rev)
    return r


# Four drafts, worked by hand. 0: perfect, revised worse (gap 0.5 nats); 1: perfect, revised worse
# (gap 3); 2: bad, revised better (gap 1.5); 3: perfect, tagged KEEP (no revision, stands always).
REVS = [rec(0, "a", "b", -2.0, -1.5), rec(1, "c", "d", -5.0, -2.0), rec(2, "e", "f", -3.5, -2.0), rec(3, "g")]
DRAFT = [1.0, 1.0, 0.0, 1.0]
REVISED = [0.5, 0.0, 1.0, 1.0]


def test_margin_rows_by_hand():
    rows = {r["margin"]: r for r in margin_rows(REVS, DRAFT, REVISED, [None, 0.5, 2.0, 4.0])}
    # off (the tag decides): every revision replaces its draft -> finals 0.5, 0, 1, 1
    assert rows[None]["preserved"] == 1 and rows[None]["top_drafts"] == 3
    assert rows[None]["harm_rate"] == pytest.approx(2 / 4) and rows[None]["improvement_rate"] == pytest.approx(1 / 4)
    assert rows[None]["mean_final"] == pytest.approx(2.5 / 4)
    # 0.5: draft 0 stands (-2.0 >= -1.5 - 0.5, a tie counts), 1 and 2 are revised
    assert rows[0.5]["preserved"] == 2 and rows[0.5]["harm_rate"] == pytest.approx(1 / 4)
    # 2: drafts 0 and 2 stand, 1 does not (-5 < -4): the bad draft 2 is no longer improved
    assert rows[2.0]["preserved"] == 2 and rows[2.0]["improvement_rate"] == 0.0
    assert rows[2.0]["mean_final"] == pytest.approx((1 + 0 + 0 + 1) / 4)
    # 4: every draft stands
    assert rows[4.0]["preserved"] == 3 and rows[4.0]["harm_rate"] == 0.0 and rows[4.0]["mean_final"] == 0.75


def test_choose_margin_takes_the_smallest_that_keeps_enough():
    rows = margin_rows(REVS, DRAFT, REVISED, [None, 0.5, 2.0, 4.0])
    assert choose_margin(rows, 0.6) == 0.5     # 2 of 3 kept at 0.5
    assert choose_margin(rows, 0.95) == 4.0    # only 4 keeps all three
    assert choose_margin([r for r in rows if r["margin"] != 4.0], 0.95) == 2.0  # none reaches: the largest
    # the tag-only row never counts as a margin, whatever it keeps
    assert choose_margin([r for r in rows if r["margin"] is None], 0.0) is None


def test_no_perfect_draft_means_no_choice():
    rows = margin_rows(REVS, [0.0] * 4, REVISED, [0.5, 1.0])
    assert all(r["top_drafts"] == 0 for r in rows) and choose_margin(rows, 0.95) is None


def test_apply_margins_sets_each_phase_from_its_source():
    from seft.config.stages import PhaseConfig, RunConfig
    from seft.runs.calibration import apply_margins, calibrated_kinds

    cfg = RunConfig()
    cfg.evolve.phases.append(PhaseConfig("late", "internal", 1, keep_margin=3.0))
    assert calibrated_kinds(cfg) == ["internal", "external"]
    got = apply_margins(cfg, {"kinds": {"internal": {"margin": 2.0}, "external": {"margin": 16.0}}})
    assert [p.keep_margin for p in got.evolve.phases] == [2.0, 16.0, 2.0] and got.evolve.revise.keep_margin == 2.0
    # a source with no choice keeps its margins; no result changes nothing
    got = apply_margins(cfg, {"kinds": {"internal": {"margin": None}, "external": {"margin": 4.0}}})
    assert [p.keep_margin for p in got.evolve.phases] == [None, 4.0, 3.0] and got.evolve.revise.keep_margin == 1.0
    assert apply_margins(cfg, None) is cfg
    # the decision off stays off
    off = RunConfig()
    off.evolve.revise.keep_margin = None
    off.evolve.phases[1].keep_margin = None
    assert calibrated_kinds(off) == []
    got = apply_margins(off, {"kinds": {"internal": {"margin": 2.0}}})
    assert got.evolve.revise.keep_margin is None and [p.keep_margin for p in got.evolve.phases] == [None, None]


def test_which_dev_set_calibrates(tmp_path):
    """A world's dev set when the rounds' prompts are that world's; calibration.dev (internal
    phases only) when given; nothing for a run on its own prompts without one, or when off."""
    import dataclasses

    from seft.config.stages import RunConfig
    from seft.runs.calibration import calibration_kinds

    world = tmp_path / "world"
    cfg = RunConfig()
    on_world = dataclasses.replace(cfg, evolve=dataclasses.replace(cfg.evolve, prompts=f"testbed:{world}"))
    assert calibration_kinds(on_world, world) == ["internal", "external"]
    own = dataclasses.replace(cfg, evolve=dataclasses.replace(cfg.evolve, prompts=str(tmp_path / "prompts.jsonl")))
    assert calibration_kinds(own, world) == [] and calibration_kinds(own, None) == []
    with_dev = dataclasses.replace(own, calibration=dataclasses.replace(cfg.calibration, dev=str(tmp_path / "dev.jsonl")))
    assert calibration_kinds(with_dev, None) == ["internal"]
    off = dataclasses.replace(on_world, calibration=dataclasses.replace(cfg.calibration, enabled=False))
    assert calibration_kinds(off, world) == []


def test_calibrate_margin_groups_are_the_rows_of_each_groups_records():
    """``group``: each group's rows are margin_rows over its own records (0 and 2 in "x", 1 and 3 in
    "y"), and the whole's rows are unchanged by asking for groups."""
    from types import SimpleNamespace

    from seft.config.reviser import ReviseConfig
    from seft.reviser.calibrate import calibrate_margin

    texts = {"a": 1.0, "b": 0.5, "c": 1.0, "d": 0.0, "e": 0.0, "f": 1.0, "g": 1.0}
    judge = SimpleNamespace(score=lambda recs, responses: [texts[t] for t in responses])
    gen = SimpleNamespace(tokenizer=lambda text, add_special_tokens: {"input_ids": list(text)})
    records = [{"id": r["id"], "draft": r["draft"], "g": "xyxy"[i]} for i, r in enumerate(REVS)]
    kw = dict(margins=[0.5, 2.0], preservation=0.9, revise=lambda g, recs, cfg, tag_budget: [dict(r) for r in REVS])
    plain = calibrate_margin(gen, records, records, ReviseConfig(), judge, **kw)
    got = calibrate_margin(gen, records, records, ReviseConfig(), judge, group=lambda r: r["g"], **kw)
    assert "groups" not in plain and got["rows"] == plain["rows"]
    assert got["rows"] == margin_rows(REVS, DRAFT, REVISED, [None, 0.5, 2.0])
    assert got["groups"] == {
        "x": margin_rows([REVS[0], REVS[2]], [1.0, 0.0], [0.5, 1.0], [None, 0.5, 2.0]),
        "y": margin_rows([REVS[1], REVS[3]], [1.0, 1.0], [0.0, 1.0], [None, 0.5, 2.0])}
    # by hand, group x at margin 2: both drafts stand -> finals 1 and 0
    assert next(r for r in got["groups"]["x"] if r["margin"] == 2.0)["mean_final"] == 0.5
