"""Two-pass revision (KEEP costs only the tag) and the Hugging Face generator's guarantees."""
from __future__ import annotations

import json

from seft.config.reviser import ReviseConfig
from seft.generation.base import SamplingParams
from seft.models.chat import render_prompts
from seft.reviser.revise import revise_drafts, revision_stats


class ScriptedGenerator:
    """Answers from a script keyed by the draft; records every call and its budget."""

    def __init__(self, heads: dict, bodies: dict):
        self.heads, self.bodies, self.calls = heads, bodies, []

    def generate(self, prompts, params, *, prefixes=None, desc=""):
        self.calls.append((len(prompts), params.max_new_tokens, prefixes))
        drafts = [p[0]["content"].split("\n")[0].removeprefix("Draft: ") for p in prompts]
        if prefixes is None:
            return [self.heads[d] for d in drafts]
        return [self.bodies[d] for d in drafts]


def test_keep_costs_only_the_tag_and_fallbacks_are_counted():
    recs = [{"id": str(i), "prompt": f"q{i}", "draft": d} for i, d in enumerate(["good", "bad", "odd", "long"])]
    gen = ScriptedGenerator(heads={"good": "[KEEP]", "bad": "[MAJOR]", "odd": "hmm", "long": "[MINOR]"},
                            bodies={"bad": "fixed", "long": "x" * 500})
    out = revise_drafts(gen, recs, ReviseConfig(keep_margin=None), tag_budget=9)  # the tag alone decides
    # pass 1 for all four drafts with the tag budget; pass 2 only for the two that asked to revise
    assert gen.calls == [(4, 9, None), (2, 48, ["[MAJOR]\n", "[MINOR]\n"])]
    assert [(r["level"], r["final"], r["changed"], r["fallback"]) for r in out] == [
        ("KEEP", "good", False, None), ("MAJOR", "fixed", True, None),
        (None, "odd", False, "no_tag"), ("MINOR", "long", False, "runaway")]
    stats = revision_stats(out)
    assert stats["levels"] == {"KEEP": 1, "MAJOR": 1, "MINOR": 1, "none": 1}
    assert stats["fallbacks"] == {"no_tag": 1, "runaway": 1} and stats["changed"] == 1


def _policy(tiny_testbed):
    from seft.generation.hf import HFGenerator
    from seft.models.loading import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(tiny_testbed / "base_policy")
    return model, tok, HFGenerator


def test_batching_does_not_change_greedy_outputs(tiny_testbed):
    model, tok, HFGenerator = _policy(tiny_testbed)
    prompts = [json.loads(x)["prompt"] for x in (tiny_testbed / "eval.jsonl").read_text().splitlines()][:12]
    greedy = SamplingParams(temperature=0.0, max_new_tokens=10)
    one = HFGenerator(model, tok, batch_size=1).generate(prompts, greedy)
    many = HFGenerator(model, tok, batch_size=5).generate(prompts, greedy)
    assert one == many and len(one) == 12


def test_sampling_is_seeded(tiny_testbed):
    model, tok, HFGenerator = _policy(tiny_testbed)
    gen = HFGenerator(model, tok, batch_size=4)
    prompts = ["add: 12+34", "reverse: abcdef", "sort: 3 1 2", "upper: xyz"] * 3
    hot = SamplingParams(temperature=1.5, max_new_tokens=10, seed=7)
    assert gen.generate(prompts, hot) == gen.generate(prompts, hot)
    assert gen.generate(prompts, hot) != gen.generate(prompts, SamplingParams(temperature=1.5, max_new_tokens=10, seed=8))


def test_stop_strings_and_prefixes(tiny_testbed):
    model, tok, HFGenerator = _policy(tiny_testbed)
    gen = HFGenerator(model, tok, batch_size=4)
    free = gen.generate(["add: 12+34"], SamplingParams(temperature=0.0, max_new_tokens=12))[0]
    if free:  # the stop string cuts right before its first occurrence
        cut = gen.generate(["add: 12+34"], SamplingParams(temperature=0.0, max_new_tokens=12, stop=[free[-1]]))[0]
        assert cut == free[:free.index(free[-1])]
    params = SamplingParams(temperature=0.0, max_new_tokens=12)
    assert gen.generate(["add: 12+34"], params, prefixes=[""]) == [free]  # an empty forced prefix changes nothing
    forced = gen.generate(["add: 12+34"], params, prefixes=["9"])[0]
    assert isinstance(forced, str) and len(forced) <= 12


def test_greedy_generate_through_the_engine_is_transformers_generate(tiny_testbed):
    # Greedy generate() runs through the one-pass engine (shared prefix once, finished rows out);
    # it must give what transformers' own generate gives, stop strings and forced prefixes included.
    model, tok, HFGenerator = _policy(tiny_testbed)
    prompts = [json.loads(x)["prompt"] for x in (tiny_testbed / "eval.jsonl").read_text().splitlines()]
    prompts += [json.loads(x)["prompt"] for x in (tiny_testbed / "eval_ood.jsonl").read_text().splitlines()]
    for params, prefixes in [(SamplingParams(temperature=0.0, max_new_tokens=12), None),
                             (SamplingParams(temperature=0.0, max_new_tokens=5, stop=[" "]), None),
                             (SamplingParams(temperature=0.0, max_new_tokens=8), ["ans"] * len(prompts))]:
        ours = HFGenerator(model, tok, batch_size=7).generate(prompts, params, prefixes=prefixes)
        theirs = HFGenerator(model, tok, batch_size=7, greedy_engine=False).generate(prompts, params, prefixes=prefixes)
        assert ours == theirs


def test_greedy_engine_through_a_lora_adapter(tmp_path):
    # A LoRA round's policy is a PeftModel (its forward takes **kwargs): the engine finds the cache
    # argument on the model inside, and still gives generate's answers.
    from peft import LoraConfig, get_peft_model

    from seft.generation.hf import HFGenerator
    from seft.models.loading import load_model_and_tokenizer
    from tiny_models import make_tiny_model_dir

    model, tok = load_model_and_tokenizer(make_tiny_model_dir(tmp_path / "base"))
    get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear",
                                     init_lora_weights=False)).save_pretrained(tmp_path / "adapter")
    tok.save_pretrained(tmp_path / "adapter")
    peft_model, tok = load_model_and_tokenizer(tmp_path / "adapter")
    assert type(peft_model).__name__ == "PeftModel"
    prompts = ["abc: de", "hello world", "x: y z", "q"] * 3
    greedy = SamplingParams(temperature=0.0, max_new_tokens=10)
    assert HFGenerator(peft_model, tok, batch_size=5).generate(prompts, greedy) == \
        HFGenerator(peft_model, tok, batch_size=5, greedy_engine=False).generate(prompts, greedy)


def test_a_long_prompt_gets_its_own_batch_and_the_same_answer(tiny_testbed):
    model, tok, HFGenerator = _policy(tiny_testbed)
    prompts = [json.loads(x)["prompt"] for x in (tiny_testbed / "eval.jsonl").read_text().splitlines()][:6]
    prompts.append(" ".join(prompts) * 3)  # several times the others' length
    greedy = SamplingParams(temperature=0.0, max_new_tokens=8)
    split = HFGenerator(model, tok, batch_size=8, max_padding=0.5)
    lengths = [len(tok(t, add_special_tokens=False)["input_ids"]) for t in render_prompts(tok, prompts)]
    batches = split._batches(lengths, greedy.max_new_tokens)
    assert batches[-1] == [6] and len(batches) == 2
    assert len(HFGenerator(model, tok, batch_size=8, max_padding=1.0)._batches(lengths, 8)) == 1
    one = HFGenerator(model, tok, batch_size=1).generate(prompts, greedy)
    assert split.generate(prompts, greedy) == one
