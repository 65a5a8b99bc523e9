"""Chat templates in drafting, revision and training, on a tiny Llama with SmolLM2's ChatML template.

The tokenizer is character-level (built in-process) but carries SmolLM2-135M-Instruct's chat template
verbatim and its special tokens: bos <|im_start|>, eos = pad = <|im_end|>. ChatML renders an assistant
turn as ``content<|im_end|>\\n``; what every trainer must train is ``content<|im_end|>``: prompt masked,
exactly one end-of-turn token labelled, at the end.
"""
from __future__ import annotations

import string

import pytest

from seft.config.common import TrainConfig
from seft.models.chat import render_prompts, stop_token_ids
from seft.reviser.format import reviser_messages
from seft.training.completions import cut_after_stop
from seft.training.preference import build_preference_trainer
from seft.training.sft import build_sft_trainer

# SmolLM2-135M-Instruct's template, as its GGUF and the converted model folder carry it.
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
SYSTEM = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
END = "<|im_end|>"
MULTI = [{"role": "user", "content": "x: ab"}, {"role": "assistant", "content": "ba"},
         {"role": "user", "content": "x: cd"}]
EXAMPLES = [{"prompt": "x: ab", "completion": "ba"},
            {"prompt": [{"role": "system", "content": "swap"}, {"role": "user", "content": "x: abcd"}], "completion": "dcba"},
            {"prompt": MULTI, "completion": "dc"},
            {"prompt": "x: e", "completion": ""}]  # an empty answer: the model learns to stop at once
PAIRS = [{"prompt": e["prompt"], "chosen": e["completion"], "rejected": "zz"} for e in EXAMPLES]
CFG = TrainConfig(epochs=1.0, batch_size=4, logging_steps=1, max_length=256)


def chatml_tokenizer(template: str = SMOLLM2_TEMPLATE):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<|endoftext|>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")  # one char each, "\n" too
    tok.decoder = decoders.Fuse()
    tok.train_from_iterator([string.printable, SYSTEM],
                            trainer=trainers.WordLevelTrainer(special_tokens=["<|endoftext|>", "<|im_start|>", END]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<|endoftext|>", bos_token="<|im_start|>",
                                   eos_token=END, pad_token=END, clean_up_tokenization_spaces=False)
    fast.chat_template = template
    return fast


@pytest.fixture(scope="module")
def chatml_model_dir(tmp_path_factory):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = tmp_path_factory.mktemp("chatml") / "base"
    tok = chatml_tokenizer()
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (1, 2, 2)  # SmolLM2's ids
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                      tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def rendered_prompt(tok, prompt) -> str:
    return render_prompts(tok, [prompt])[0]


def assert_one_turn(tok, prompt_ids, completion_ids, example_prompt, completion):
    """The prompt is the template's rendering with the generation prompt; the completion is the
    answer and ONE end-of-turn token, nothing after it."""
    assert tok.decode(prompt_ids) == rendered_prompt(tok, example_prompt)
    assert tok.decode(completion_ids) == completion + END
    assert list(completion_ids).count(tok.eos_token_id) == 1 and completion_ids[-1] == tok.eos_token_id


# ----------------------------------------------------------------------------- pure parts
def test_cut_after_stop_hand_worked():
    assert cut_after_stop([5, 6, 2, 9], 0, {2}) == 3            # ChatML's "\n" after <|im_end|> goes
    assert cut_after_stop([5, 6, 2, 9, 2], 0, {2}) == 3         # ORPO's appended second eos goes too
    assert cut_after_stop([2, 5, 6, 2, 9], 1, {2}) == 4         # a stop inside the prompt is not the end
    assert cut_after_stop([5, 7, 6], 0, {2, 7}) == 2            # any stop id (e.g. Gemma's <end_of_turn>)
    assert cut_after_stop([5, 6], 0, {2}) is None               # none: the caller appends eos


def test_stop_token_ids_join_tokenizer_and_generation_config():
    from types import SimpleNamespace

    tok = chatml_tokenizer()
    assert stop_token_ids(tok) == {2}
    assert stop_token_ids(tok, SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=[2, 7]))) == {2, 7}
    assert stop_token_ids(tok, SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=None))) == {2}


# ----------------------------------------------------------------------------- drafting and revision
def test_drafts_render_every_turn_with_the_models_template():
    tok = chatml_tokenizer()
    assert rendered_prompt(tok, "x: ab") == SYSTEM + "<|im_start|>user\nx: ab<|im_end|>\n<|im_start|>assistant\n"
    assert rendered_prompt(tok, MULTI) == (SYSTEM + "<|im_start|>user\nx: ab<|im_end|>\n<|im_start|>assistant\nba"
                                           "<|im_end|>\n<|im_start|>user\nx: cd<|im_end|>\n<|im_start|>assistant\n")
    with_system = [{"role": "system", "content": "swap"}, *MULTI]
    assert rendered_prompt(tok, with_system).startswith("<|im_start|>system\nswap<|im_end|>\n<|im_start|>user\n")


def test_revision_input_holds_every_turn_in_the_reviser_template():
    tok = chatml_tokenizer()
    text = rendered_prompt(tok, reviser_messages(MULTI, "dd"))
    assert text == (SYSTEM + "<|im_start|>user\nDraft: dd\nUser: x: ab\nAssistant: ba\nUser: x: cd<|im_end|>\n"
                    "<|im_start|>assistant\n")
    # The forced tag prefix of the second pass continues the assistant turn.
    assert render_prompts(tok, [reviser_messages(MULTI, "dd")], ["[MINOR]\n"])[0] == text + "[MINOR]\n"


def test_generation_stops_at_every_end_of_turn_id(chatml_model_dir, monkeypatch):
    import seft.generation.speculative as speculative
    from seft.generation.base import SamplingParams
    from seft.generation.hf import HFGenerator
    from seft.models.loading import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(chatml_model_dir)
    model.generation_config.eos_token_id = [2, 7]
    seen, engine = {}, {}
    real, real_engine = model.generate, speculative.greedy_revise

    def spy(**kw):
        seen.update(kw)
        return real(**kw)

    def engine_spy(*args, **kw):
        engine.update(kw)
        return real_engine(*args, **kw)

    model.generate = spy
    monkeypatch.setattr(speculative, "greedy_revise", engine_spy)
    prompts, greedy = ["x: ab", MULTI], SamplingParams(temperature=0.0, max_new_tokens=3)
    HFGenerator(model, tok, batch_size=2, greedy_engine=False).generate(prompts, greedy)  # transformers' generate
    assert seen["eos_token_id"] == [2, 7] and seen["pad_token_id"] == 2
    HFGenerator(model, tok, batch_size=2).generate(prompts, greedy)  # the one-pass engine (the default)
    assert engine["stop_ids"] == {2, 7} and engine["pad_id"] == 2


# ----------------------------------------------------------------------------- training data
def test_sft_trains_the_answer_and_one_end_of_turn(chatml_model_dir, tmp_path):
    trainer = build_sft_trainer(chatml_model_dir, EXAMPLES, tmp_path / "sft", CFG)
    tok = trainer.processing_class
    for row, ex in zip(trainer.train_dataset, EXAMPLES):
        ids, labels = row["input_ids"], row["labels"]
        start = next(i for i, v in enumerate(labels) if v != -100)
        assert all(v == -100 for v in labels[:start])          # no loss on the prompt (earlier turns included)
        assert labels[start:] == ids[start:]                    # every completion token is trained...
        assert_one_turn(tok, ids[:start], ids[start:], ex["prompt"], ex["completion"])  # ...and ends the turn
    # Collated with pad == eos, the trained end of turn keeps its label; padding gets none.
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(EXAMPLES))])
    for row in range(len(EXAMPLES)):
        n = int(batch["attention_mask"][row].sum())
        assert int(batch["labels"][row, n - 1]) == tok.eos_token_id and (batch["labels"][row, n:] == -100).all()


def test_dpo_pairs_end_at_one_end_of_turn(chatml_model_dir, tmp_path):
    trainer = build_preference_trainer("dpo", chatml_model_dir, PAIRS, tmp_path / "dpo", CFG)
    tok = trainer.processing_class
    for row, pair in zip(trainer.train_dataset, PAIRS):
        assert_one_turn(tok, row["prompt_ids"], row["chosen_ids"], pair["prompt"], pair["chosen"])
        assert_one_turn(tok, row["prompt_ids"], row["rejected_ids"], pair["prompt"], pair["rejected"])
    batch = trainer.data_collator([trainer.train_dataset[0]])  # [chosen; rejected], loss on completion_mask
    for r, text in enumerate([PAIRS[0]["chosen"], PAIRS[0]["rejected"]]):
        trained = batch["input_ids"][r][batch["completion_mask"][r].bool()]
        assert tok.decode(trained) == text + END


def test_orpo_pairs_end_at_one_end_of_turn_not_two(chatml_model_dir, tmp_path):
    """TRL's ORPO appends eos after ChatML's trailing newline: ``ba<|im_end|>\\n<|im_end|>``. Fixed."""
    trainer = build_preference_trainer("orpo", chatml_model_dir, PAIRS, tmp_path / "orpo", CFG)
    tok = trainer.processing_class
    for row, pair in zip(trainer.train_dataset, PAIRS):
        for side in ("chosen", "rejected"):
            ids, labels = row[f"{side}_input_ids"], row[f"{side}_labels"]
            assert len(row[f"{side}_attention_mask"]) == len(ids) == len(labels)
            start = next(i for i, v in enumerate(labels) if v != -100)
            assert labels[start:] == ids[start:]
            assert_one_turn(tok, ids[:start], ids[start:], pair["prompt"], pair[side])


def test_template_without_an_end_of_turn_gets_eos_appended(chatml_model_dir, tmp_path):
    """A template whose assistant turn has no stop token would never teach the model to stop:
    training warns and appends eos to every completion."""
    from seft.models.loading import load_model_and_tokenizer

    plain = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}\n{% endfor %}"
             "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    folder = tmp_path / "plain"
    model, tok = load_model_and_tokenizer(chatml_model_dir)
    tok.chat_template = plain
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    with pytest.warns(UserWarning, match="would not learn to stop"):
        trainer = build_sft_trainer(folder, EXAMPLES[:1], tmp_path / "sft", CFG)
    row = trainer.train_dataset[0]
    start = next(i for i, v in enumerate(row["labels"]) if v != -100)
    assert trainer.processing_class.decode(row["labels"][start:]) == "ba\n" + END
    # Truncated at max_length, a completion does not end there: nothing is appended.
    short = TrainConfig(epochs=1.0, batch_size=4, max_length=len(row["input_ids"]) - 2)
    with pytest.warns(UserWarning):
        cut = build_sft_trainer(folder, EXAMPLES[:1], tmp_path / "cut", short).train_dataset[0]
    assert len(cut["input_ids"]) == short.max_length and tok.eos_token_id not in cut["input_ids"][start:]
