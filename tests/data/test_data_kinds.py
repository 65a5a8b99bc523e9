"""Every input kind from every published shape that carries it: prompts, external responses and
eval prompts read from the fixtures in their datasets' own row shapes (``seft.data.kinds``)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from seft.data import DataError, load_records
from seft.data.adapters import ADAPTERS
from seft.data.kinds import DERIVABLE, best_response, derivable, derive
from seft.data.schema import ScoredList, ScoredResponse

FIXTURES = Path(__file__).parent.parent / "fixtures" / "data"
FILES = {"ultrafeedback": "ultrafeedback.jsonl", "ultrafeedback_binarized": "ultrafeedback_binarized.jsonl",
         "nectar": "nectar.jsonl", "hh_rlhf": "hh_rlhf.jsonl", "alpaca": "alpaca.json", "sharegpt": "sharegpt.json"}


def test_every_adapter_has_a_fixture():
    assert set(FILES) == set(ADAPTERS)


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_every_shape_gives_prompts_with_the_same_ids_as_its_native_records(fmt):
    native = load_records(FIXTURES / FILES[fmt], ADAPTERS[fmt][0], format=fmt).records
    prompts = load_records(FIXTURES / FILES[fmt], "prompts", format=fmt).records
    assert [p.id for p in prompts] == [r.id for r in native]
    assert [p.prompt for p in prompts] == [r.prompt for r in native]


# What each shape's external response is, worked out by hand from the fixture files.
EXTERNAL_FIRST = {
    "ultrafeedback": "The capital of Australia is Canberra",  # overall_score 9.0, the highest
    "ultrafeedback_binarized": "A spider has eight legs.",    # chosen
    "nectar": "Water boils at 100 degrees Celsius",           # rank 1
    "hh_rlhf": "Start with a few simple recipes",              # chosen
    "alpaca": "1. Eat a balanced diet.",                       # output
    "sharegpt": "Two young lovers from feuding families",      # the final gpt turn
}


@pytest.mark.parametrize("fmt", sorted(set(FILES) - {"sharegpt", "alpaca"}))
def test_preference_shapes_give_external_responses(fmt):
    recs = load_records(FIXTURES / FILES[fmt], "external", format=fmt).records
    assert recs[0].response.startswith(EXTERNAL_FIRST[fmt])
    assert "reference" not in recs[0].meta


def test_ultrafeedback_external_is_the_best_scored_even_when_it_is_not_first():
    recs = load_records(FIXTURES / FILES["ultrafeedback"], "external", format="ultrafeedback").records
    assert recs[1].response == "7, 19, 42"  # scores 10, 3, 8, 1: the first is best here too
    assert recs[2].response.startswith("Cold rain on red leaves")


@pytest.mark.parametrize("fmt", ["alpaca", "sharegpt"])
def test_conversation_shapes_give_external_responses_and_name_a_row_without_one(fmt, tmp_path):
    rows = json.loads((FIXTURES / FILES[fmt]).read_text())
    # The sharegpt fixture's third row ends with a human turn: no response to use.
    if fmt == "alpaca":
        rows[2] = {"instruction": "Say hi."}
    path = tmp_path / "x.json"
    path.write_text(json.dumps(rows))
    with pytest.raises(DataError, match=r"x\.json\[row 2\]: field 'meta.reference': this row has no answer"):
        load_records(path, "external", format=fmt)
    recs = load_records(path, "external", format=fmt, on_bad_record="skip")
    assert recs.skipped == 1 and recs.records[0].response.startswith(EXTERNAL_FIRST[fmt])


def test_prompts_keep_a_known_answer_as_reference():
    alp = load_records(FIXTURES / "alpaca.json", "prompts", format="alpaca").records
    assert alp[3].meta["reference"] == "Jupiter"
    pairs = load_records(FIXTURES / "hh_rlhf.jsonl", "prompts", format="hh_rlhf").records
    assert pairs[0].meta["reference"].startswith("Start with a few simple recipes")
    nectar = load_records(FIXTURES / "nectar.jsonl", "prompts", format="nectar").records
    assert nectar[2].meta["reference"] == "'cba'" and nectar[2].meta["source"]


def test_seft_rows_of_another_kind_serve_as_prompts_and_external(tmp_path):
    path = tmp_path / "prefs.jsonl"
    rows = [{"prompt": "2+2?", "responses": [{"text": "5", "score": 0.0}, {"text": "4", "score": 1.0}]},
            {"prompt": "Capital of France?", "chosen": "Paris", "rejected": "Lyon"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ext = load_records(path, "external").records
    assert [e.response for e in ext] == ["4", "Paris"]
    assert [p.meta["reference"] for p in load_records(path, "prompts").records] == ["4", "Paris"]
    with pytest.raises(DataError, match="prefs.jsonl:2: field 'chosen': unknown field"):
        load_records(path, "scored")  # preference kinds are never guessed


def test_kinds_that_cannot_be_derived_are_usage_errors():
    assert not derivable("prompts", "pairs") and not derivable("external", "scored")
    assert set(DERIVABLE) == {"prompts", "external", "scored", "pairs"}
    with pytest.raises(ValueError, match="holds 'prompts' records, which cannot be read as 'scored'"):
        load_records(FIXTURES / "alpaca.json", "scored", format="alpaca")


def test_best_response_prefers_scores_then_ranks_and_keeps_the_first_tie():
    def sl(*responses):
        return ScoredList(id="x", prompt="p", responses=[ScoredResponse(**r) for r in responses])

    assert best_response(sl({"text": "a", "score": 2.0}, {"text": "b", "score": 5.0}, {"text": "c", "score": 5.0}))[0] == 1
    assert best_response(sl({"text": "a", "rank": 2}, {"text": "b", "rank": 1}))[0] == 1
    # a score wins over a rank: the scored response is best even though another has rank 1
    assert best_response(sl({"text": "a", "rank": 1}, {"text": "b", "score": 0.1}))[0] == 1
    assert best_response(sl({"text": "a"}, {"text": "b"})) is None
    with pytest.raises(DataError, match="no response has a score or a rank"):
        derive(sl({"text": "a"}), "external")


def test_config_offers_exactly_the_readers_formats():
    from seft.config.common import DATA_FORMATS
    from seft.data.readers import FORMATS

    assert DATA_FORMATS == FORMATS
