import pytest
import torch
from transformers import AutoTokenizer

from shared.text_generation import ContextTooLongError, IncrementalDetokenizer, Sampling, TextGenerator


@pytest.fixture(scope="module")
def tokenizer(tiny_smollm3):
    return AutoTokenizer.from_pretrained(tiny_smollm3)


def feed(tokenizer, ids: list[int]) -> list[str]:
    streamer = IncrementalDetokenizer(tokenizer)
    streamer.put(torch.tensor([[1, 2, 3]]))  # the prompt, which generate() hands over first
    for token in ids:
        streamer.put(torch.tensor([token]))
    streamer.end()
    return list(streamer.pieces.queue)


def test_streamed_pieces_add_up_and_never_split_a_character(tokenizer):
    text = "Waves 🌊 fold into foam — ça va? 数学"
    ids = tokenizer(text, add_special_tokens=False).input_ids
    assert len(ids) > len(text.split()), "the tiny vocabulary must split multi-byte characters"
    pieces = feed(tokenizer, ids)
    assert "".join(pieces) == text
    assert not any("\ufffd" in piece for piece in pieces)
    assert len(pieces) > 3


def test_special_tokens_are_not_streamed(tokenizer):
    ids = tokenizer("Hello", add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    assert "".join(feed(tokenizer, ids)) == "Hello"


def test_temperature_zero_is_greedy():
    assert Sampling(8, 0.0, 0.5, 5).generate_kwargs()["do_sample"] is False
    sampled = Sampling(8, 0.7, 0.9, 40).generate_kwargs()
    assert sampled == {"do_sample": True, "temperature": 0.7, "top_p": 0.9, "top_k": 40}


def test_context_overflow_names_the_field_and_the_room_left(tokenizer):
    generator = TextGenerator(None, tokenizer, torch.device("cpu"), max_context=100)
    generator.check_fits(60, 40)
    with pytest.raises(ContextTooLongError, match=r"max_new_tokens: .* lower max_new_tokens to 40 or less"):
        generator.check_fits(60, 41)


def test_modes_render_smollm3_reasoning_flags(tokenizer):
    generator = TextGenerator(None, tokenizer, torch.device("cpu"), max_context=100)
    messages = [{"role": "user", "content": "Hi"}]
    think = generator.render(messages, enable_thinking=True)
    no_think = generator.render(messages, enable_thinking=False)
    assert "Reasoning Mode: /think" in think and think.endswith("<|im_start|>assistant\n")
    assert "Reasoning Mode: /no_think" in no_think and no_think.endswith("<think>\n\n</think>\n")


def test_think_tags_are_streamed_only_when_kept(tokenizer):
    ids = tokenizer("<think>hmm</think>Yes", add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    assert tokenizer.convert_tokens_to_ids("<think>") in ids, "the tiny SmolLM3 marks <think> special"
    streamer = IncrementalDetokenizer(tokenizer, keep_tokens=("<think>", "</think>"))
    streamer.put(torch.tensor([[0]]))
    streamer.put(torch.tensor(ids))
    streamer.end()
    assert "".join(streamer.pieces.queue) == "<think>hmm</think>Yes"
    assert streamer.generated == len(ids)
    assert "".join(feed(tokenizer, ids)) == "hmmYes"
