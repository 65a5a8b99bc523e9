"""The IF world's constraints, edits and scorers, on hand-worked texts (the checkers are if-verifiable's)."""
from __future__ import annotations

import json
import random

import pytest

from seft.config.testbed import IF_CONSTRAINTS, IFWorldConfig
from seft.worlds.constraints import describe, render_prompt, sample_constraints, satisfy, violate, word_count
from seft.worlds.scoring import check, loose, strict, strict_all

LOWER = {"id": "change_case:english_lowercase", "kwargs": {}}
NO_COMMA = {"id": "punctuation:no_comma", "kwargs": {}}
END = {"id": "startend:end_checker", "kwargs": {"end_phrase": "Any other questions?"}}
QUOTE = {"id": "startend:quotation", "kwargs": {}}
WORDS = {"id": "length_constraints:number_words", "kwargs": {"num_words": 8, "relation": "less than"}}
BULLETS = {"id": "detectable_format:number_bullet_lists", "kwargs": {"num_bullets": 3}}
TEXT = "The capital of France is Paris, a city known for its museums and its food."


def rec(*cs, prompt="Tell me about Paris."):
    return {"id": "r", "prompt": prompt, "meta": {"instruction_id_list": [c["id"] for c in cs],
                                                  "kwargs": [c["kwargs"] for c in cs]}}


def test_descriptions_are_the_librarys_words():
    assert describe(NO_COMMA) == "In your entire response, refrain from the use of any commas."
    assert describe(WORDS) == "Answer with less than 8 words."
    assert render_prompt(" Tell me about Paris. ", [NO_COMMA, END]) == (
        "Tell me about Paris. In your entire response, refrain from the use of any commas. "
        "Finish your response with this exact phrase Any other questions?. No other words should follow this phrase.")


def test_satisfy_hand_worked():
    assert satisfy(TEXT, [LOWER, NO_COMMA, END]) == \
        "the capital of france is paris a city known for its museums and its food.\nany other questions?"
    assert satisfy(TEXT, [QUOTE]) == f'"{TEXT}"'
    cut = satisfy(TEXT, [WORDS, END])
    assert cut.endswith("\nAny other questions?") and word_count(cut) < 8
    assert satisfy("a b c d e f", [BULLETS]) == "* a b\n* c d\n* e f"
    assert json.loads(satisfy(TEXT, [{"id": "detectable_format:json_format", "kwargs": {}}])) == {"response": TEXT}
    # An empty answer fails every checker whatever is added, so the edit writes one.
    assert strict(rec(END), satisfy("", [END])) == 1.0


def test_scores_are_the_share_of_constraints_followed():
    r = rec(LOWER, NO_COMMA, END)
    assert strict(r, TEXT) == 0.0
    assert strict(r, TEXT.lower()) == pytest.approx(1 / 3)
    assert strict(r, TEXT.lower().replace(",", "")) == pytest.approx(2 / 3)
    assert strict(r, satisfy(TEXT, [LOWER, NO_COMMA, END])) == 1.0
    assert strict_all(r, TEXT.lower()) == 0.0 and strict_all(r, satisfy(TEXT, [LOWER, NO_COMMA, END])) == 1.0
    # Loose accepts the answer with its first line removed (IFEval's loose variants); strict does not.
    q = rec(QUOTE)
    assert strict(q, 'Sure:\n"Paris is lovely."') == 0.0 and loose(q, 'Sure:\n"Paris is lovely."') == 1.0
    assert strict(r, "") == 0.0  # an empty answer follows nothing


def test_violate_breaks_each_constraint():
    cs = [LOWER, NO_COMMA, END]
    good = satisfy(TEXT, cs)
    assert strict(rec(*cs), violate(good, cs)) == 0.0


def test_bad_records_are_clear_errors():
    with pytest.raises(ValueError, match="meta needs instruction_id_list and kwargs"):
        strict({"id": "x", "prompt": "p", "meta": {}}, "answer")
    with pytest.raises(ValueError, match="'nope:nope' is not an instruction of the ifeval checkers"):
        strict(rec({"id": "nope:nope", "kwargs": {}}), "answer")
    with pytest.raises(ValueError, match="not a checker registry"):
        strict({"id": "x", "prompt": "p", "meta": {"registry": "x", "instruction_id_list": [], "kwargs": []}}, "a")


def test_sampling_is_seeded_compatible_and_leaves_global_random_alone():
    random.seed(123)
    before = random.random()
    random.seed(123)
    a = [sample_constraints(random.Random(7), IF_CONSTRAINTS, 1, 3, 60) for _ in range(3)]
    assert random.random() == before  # the library's sampler ran under its own seed
    b = [sample_constraints(random.Random(7), IF_CONSTRAINTS, 1, 3, 60) for _ in range(3)]
    assert a == b
    from seft.worlds.constraints import _conflicts

    sizes = set()
    for seed in range(300):
        cs = sample_constraints(random.Random(seed), IF_CONSTRAINTS, 1, 3, 60)
        sizes.add(len(cs))
        assert all(not _conflicts(x["id"], y["id"]) for i, x in enumerate(cs) for y in cs[i + 1:])
        for c in cs:
            if c["id"] == "length_constraints:number_words":
                assert c["kwargs"]["relation"] == "less than" and 20 <= c["kwargs"]["num_words"] <= 60
    assert sizes == {1, 2, 3}


def test_edits_reach_the_ends_of_the_scale_on_real_shaped_answers():
    """Over 400 random constraint sets and three answer shapes (prose with commas, a markdown list,
    a short poem), the satisfying edit meets every constraint and the violating edit none, apart
    from one thing an edit cannot control: the case checkers also ask langdetect for English, and
    it calls short texts (the poem; capitals) German or French. That is the checker's own verdict,
    so the preference set's "edited_all" response then scores below 1 and is ranked as such."""
    texts = ["Here are some tips, for your trip: pack light and bring water. Enjoy the sights!",
             "Sure! Options:\n- one\n- two\n- three",
             "Roses are red,\nviolets are blue."]
    n, full, none, other_misses = 0, 0, 0, []
    for seed in range(400):
        cs = sample_constraints(random.Random(seed), IF_CONSTRAINTS, 1, 3, 60)
        for t in texts:
            n += 1
            results = check(rec(*cs), satisfy(t, cs, "Plan a trip to Europe."))
            full += all(r[1] for r in results)
            other_misses += [r[0] for r in results if not r[1] and not r[0].startswith("change_case:")]
            none += strict(rec(*cs), violate(t, cs)) == 0.0
    assert not other_misses
    assert full / n >= 0.9 and none / n >= 0.99, (full / n, none / n)


def test_ifbench_offline_leaves_out_what_needs_nltk_data():
    """IFBench's checkers import without a network call; an instruction whose checker needs NLTK
    data (stopwords) is left out of the score, and a prompt with only such instructions scores None."""
    only = {"id": "ifbench/171", "prompt": "p", "meta": {"registry": "ifbench", "instruction_id_list": ["ratio:stop_words"],
                                                         "kwargs": [{"percentage": 47.0}]}}
    mixed = {"id": "ifbench/9", "prompt": "p", "meta": {"registry": "ifbench",
                                                        "instruction_id_list": ["ratio:stop_words", "format:no_whitespace"],
                                                        "kwargs": [{"percentage": 47.0}, {}]}}
    try:
        import nltk
        nltk.data.find("corpora/stopwords")
        pytest.skip("NLTK's stopwords are installed here: nothing is left out")
    except LookupError:
        pass
    assert strict(only, "some words here") is None
    assert strict(mixed, "nospaces") == 1.0 and strict(mixed, "has spaces") == 0.0
    assert [c[0] for c in check(mixed, "x")] == ["format:no_whitespace"]


def test_config_rejects_unknown_types():
    with pytest.raises(ValueError, match="constraint_types"):
        IFWorldConfig(constraint_types=["language:response_language"])
    with pytest.raises(ValueError, match="min_constraints"):
        IFWorldConfig(min_constraints=3, max_constraints=2)
