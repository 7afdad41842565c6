"""Compiled decode over KV-cache buckets for Gemma-3 (INT8 weight-only, image + text) and Phi-4's transformers +
bitsandbytes NF4 path, on the tiny models loaded by the production loaders: one graph per bucket at warm-up,
none afterwards, and the same answers as eager decoding."""

import pytest
import torch
from PIL import Image

from scripts.harness.tiny_models.phi4 import SCRIPT_ANSWER, SCRIPT_REASONING
from shared.common.compiled_graphs import compiled_graph_count
from shared.optim.layer_filter import LANGUAGE_MODEL_LINEARS
from shared.optim.quantization import quantize_int8_weight_only
from shared.text.generator import TextGenerator, Usage, chat_messages
from shared.text.loading import load_4bit_causal_lm, load_image_text_model
from shared.text.sampling import Sampling
from shared.text.settings import TextSettings

CPU = torch.device("cpu")


def warmed_up(model, tokenizer_or_processor, settings: TextSettings, **kwargs) -> tuple[TextGenerator, int]:
    graphs = compiled_graph_count()
    generator = TextGenerator(model, tokenizer_or_processor, CPU, settings, **kwargs)
    generator.warm_up()
    return generator, compiled_graph_count() - graphs


LAST = Usage()  # what the latest answer() took


def answer(generator: TextGenerator, messages, max_new_tokens: int, temperature: float = 0.0) -> str:
    return "".join(generator.stream(generator.encode_chat(messages), Sampling(max_new_tokens, temperature), LAST))


class NoRecompile:
    def __enter__(self):
        self.graphs = compiled_graph_count()
        torch.compiler.set_stance("fail_on_recompile")

    def __exit__(self, *exc):
        torch.compiler.set_stance("default")
        assert compiled_graph_count() == self.graphs


@pytest.fixture(scope="module")
def gemma3(tiny_gemma3):
    model, processor = load_image_text_model(tiny_gemma3, torch.bfloat16, CPU)
    quantize_int8_weight_only(model, LANGUAGE_MODEL_LINEARS)
    settings = TextSettings(max_context=256, quantize="int8", quantize_choices=("int8",), cache_buckets=(64,))
    generator, graphs = warmed_up(model, processor, settings)
    eager = TextGenerator(model, processor, CPU, TextSettings(max_context=256, compile=False))
    return generator, graphs, eager


def test_gemma3_compiles_one_decode_graph_per_bucket(gemma3):
    generator, graphs, _ = gemma3
    assert generator.caches.lengths == (64, 256)
    assert graphs == 2


def test_gemma3_text_image_and_past_window_requests_never_recompile(gemma3):
    generator, _, eager = gemma3
    picture = Image.new("RGB", (40, 30), (200, 30, 30))
    # The tiny model's sliding window is 64 tokens: the long prompt runs past it.
    long_prompt = chat_messages("Tell me about the sea and the waves " * 6)
    with NoRecompile():
        short = answer(generator, chat_messages("Say hello."), 20)
        assert LAST.cache_length == 64
        answer(generator, chat_messages("What colour is this?", "Be brief.", picture), 16, temperature=1.0)
        with_image = answer(generator, chat_messages("What colour is this?", image=picture), 12)
        assert LAST.cache_length == 64
        long = answer(generator, long_prompt, 40)
        assert LAST.cache_length == 256
        assert answer(generator, chat_messages("Say hello."), 120).startswith(short)
        assert LAST.cache_length == 256
    assert answer(eager, chat_messages("Say hello."), 20) == short
    assert answer(eager, chat_messages("What colour is this?", image=picture), 12) == with_image
    assert answer(eager, long_prompt, 40) == long, "a full-length layer + the sliding mask = the sliding cache"


@pytest.fixture(scope="module")
def phi4(tiny_phi4):
    model, tokenizer, backend = load_4bit_causal_lm(tiny_phi4, CPU, max_seq_length=2048)
    assert backend == "transformers+bitsandbytes-nf4"
    # The fixed reasoning system prompt alone is ~850 tokens here.
    settings = TextSettings(max_context=2048, quantize="nf4", quantize_choices=("nf4",), cache_buckets=(1024,))
    return warmed_up(model, tokenizer, settings, keep_tokens=("<think>", "</think>"), system_in_user_turn=True)


def test_phi4_nf4_decode_compiles_despite_transformers_gate(phi4):
    """transformers 5.5 would decode a bitsandbytes 4-bit model eagerly; shared.text.kv_cache lets it compile."""
    generator, graphs = phi4
    assert generator.caches.lengths == (1024, 2048)
    assert graphs == 2


def test_phi4_compiled_decode_writes_the_scripted_answer_and_never_recompiles(phi4):
    generator, _ = phi4
    question = chat_messages("What is the capital of France?")
    with NoRecompile():
        short = answer(generator, question, 30)
        assert LAST.cache_length == 1024
        long = answer(generator, question, 400)
        assert LAST.cache_length == 2048
        answer(generator, chat_messages("Hi", "Answer in French."), 24, temperature=0.8)
    assert short.startswith(f"<think>{SCRIPT_REASONING}</think>{SCRIPT_ANSWER}")
    assert long.startswith(short)
