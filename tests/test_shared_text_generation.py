import pytest
import torch
from transformers import AutoTokenizer

from shared.text.generator import (
    ContextTooLongError,
    IncrementalDetokenizer,
    TextGenerator,
    chat_messages,
)
from shared.text.settings import TextSettings

EAGER_100 = TextSettings(max_context=100, compile=False)


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


def test_context_overflow_names_the_field_and_the_room_left(tokenizer):
    generator = TextGenerator(None, tokenizer, torch.device("cpu"), EAGER_100)
    generator.check_fits(60, 40)
    with pytest.raises(ContextTooLongError, match=r"^max_new_tokens: 41 new tokens .* \(at most 40 for this prompt\)"):
        generator.check_fits(60, 41)


@pytest.mark.parametrize("fields", ["prompt", "prompt, system_prompt"])
def test_a_prompt_too_long_by_itself_is_blamed_on_the_prompt(tokenizer, fields):
    generator = TextGenerator(None, tokenizer, torch.device("cpu"), EAGER_100)
    generator.check_fits(99, 1)
    for prompt_tokens in (100, 250):
        expected = rf"^{fields}: .* {prompt_tokens} tokens .*\(at most 99 tokens fit"
        with pytest.raises(ContextTooLongError, match=expected):
            generator.check_fits(prompt_tokens, 1, fields)


def test_chat_names_the_fields_its_prompt_came_from(tokenizer):
    generator = TextGenerator(None, tokenizer, torch.device("cpu"), TextSettings(max_context=4096, compile=False))
    plain = generator.encode_chat(chat_messages("Hi", system_prompt="  "))
    assert plain.fields == "prompt"
    with_system = generator.encode_chat(chat_messages("Hi", system_prompt="Be brief."))
    assert with_system.fields == "prompt, system_prompt"
    assert with_system.tensors["attention_mask"].shape == with_system.tensors["input_ids"].shape
    assert "Be brief." in tokenizer.decode(with_system.tensors["input_ids"][0])
    assert "Be brief." not in tokenizer.decode(plain.tensors["input_ids"][0])


def test_a_text_only_model_refuses_an_image(tokenizer):
    generator = TextGenerator(None, tokenizer, torch.device("cpu"), EAGER_100)
    with pytest.raises(ValueError, match="^image: this model reads text only"):
        generator.encode_chat(chat_messages("What is this?", image=object()))


def test_system_prompt_joins_the_user_turn_where_the_template_replaces_it(tiny_phi4):
    tokenizer = AutoTokenizer.from_pretrained(tiny_phi4)
    settings = TextSettings(max_context=4096, compile=False)
    generator = TextGenerator(None, tokenizer, torch.device("cpu"), settings, system_in_user_turn=True)
    chat = generator.encode_chat(chat_messages("Hi", system_prompt=" Answer in French. "))
    assert chat.fields == "prompt, system_prompt"
    text = tokenizer.decode(chat.tensors["input_ids"][0])
    assert text.endswith("<|im_start|>user<|im_sep|>Answer in French.\n\nHi<|im_end|><|im_start|>assistant<|im_sep|>")


def test_modes_render_smollm3_reasoning_flags(tokenizer):
    generator = TextGenerator(None, tokenizer, torch.device("cpu"), EAGER_100)
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
