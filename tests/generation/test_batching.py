"""Length batches, worked by hand: sorted by length, at most batch_size, and a batch ends before an
input that would make more than max_padding of its positions padding."""
from __future__ import annotations

import pytest

from seft.generation.base import length_batches


def test_sorted_by_length_then_index_and_cut_at_batch_size():
    assert length_batches([5, 3, 5, 1, 3], 2) == [[3, 1], [4, 0], [2]]
    assert length_batches([], 4) == []


def test_one_long_prompt_does_not_pad_a_batch():
    # four 10-token prompts then one of 100: padded together that is 5 x 100 = 500 positions, of
    # which 140 are real (72% padding), so the long one starts its own batch at max_padding 0.5
    lengths = [10, 100, 10, 10, 10]
    assert length_batches(lengths, 8, max_padding=0.5) == [[0, 2, 3, 4], [1]]
    assert length_batches(lengths, 8, max_padding=1.0) == [[0, 2, 3, 4, 1]]


def test_new_tokens_count_as_real_positions():
    # with 100 new tokens a row, the same batch is 5 x 200 = 1,000 positions, 540 real: 46% padding
    assert length_batches([10, 100, 10, 10, 10], 8, extra=100, max_padding=0.5) == [[0, 2, 3, 4, 1]]


def test_the_limit_is_inclusive_and_a_lone_input_always_fits():
    # [2, 4]: 2 x 4 = 8 positions, 6 real, 2 padding = 25% exactly
    assert length_batches([2, 4], 4, max_padding=0.25) == [[0, 1]]
    assert length_batches([2, 4], 4, max_padding=0.24) == [[0], [1]]
    assert length_batches([7], 1, max_padding=0.0) == [[0]]
    assert length_batches([3, 3, 3], 8, max_padding=0.0) == [[0, 1, 2]]


@pytest.mark.parametrize("max_padding", [0.0, 0.3, 0.5, 1.0])
def test_every_input_once(max_padding):
    import random

    rng = random.Random(0)
    lengths = [rng.choice([rng.randint(5, 40), rng.randint(200, 900)]) for _ in range(300)]
    batches = length_batches(lengths, 16, extra=8, max_padding=max_padding)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(300)) and all(1 <= len(b) <= 16 for b in batches)
    assert [lengths[i] for i in flat] == sorted(lengths)
    for b in batches[:-1]:
        width = max(lengths[i] for i in b) + 8
        real = sum(lengths[i] + 8 for i in b)
        assert len(b) * width - real <= max_padding * len(b) * width + 1e-9
