"""HQQ through Pruna and the compiled decode step, on the tiny SmolLM3 loaded by the production loader."""

import pytest
import torch

from shared.compile import compile_decoding, compiled_graph_count
from shared.loading import load_causal_lm
from shared.quantization import quantize_hqq, weight_bytes
from shared.text_generation import Sampling, TextGenerator

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def quantized(tiny_smollm3):
    model, tokenizer = load_causal_lm(tiny_smollm3, torch.bfloat16, CPU)
    before = weight_bytes(model)
    model = quantize_hqq(model, CPU, bits=4, group_size=64)
    return model, tokenizer, before


def test_hqq_replaces_linear_layers_and_shrinks_them(quantized):
    from hqq.core.quantize import HQQLinear

    model, _, before = quantized
    layer = model.model.layers[0]
    assert isinstance(layer.self_attn.q_proj, HQQLinear)
    assert isinstance(layer.mlp.down_proj, HQQLinear)
    assert not isinstance(model.lm_head, HQQLinear), "the output head stays in bf16"
    assert weight_bytes(model) < before


def test_decode_step_compiles_once_for_any_prompt_and_sampling(quantized):
    model, tokenizer, _ = quantized
    cache = compile_decoding(model, max_cache_len=1024)
    generator = TextGenerator(model, tokenizer, CPU, max_context=1024, cache=cache)

    def answer(prompt: str, sampling: Sampling) -> str:
        ids = generator.encode(generator.render([{"role": "user", "content": prompt}]))
        return "".join(generator.stream(ids, sampling))

    graphs_before = compiled_graph_count()
    answer("warm up", Sampling(4, 0.0))
    assert compiled_graph_count() == graphs_before + 1
    torch.compiler.set_stance("fail_on_recompile")
    try:
        greedy = answer("a much longer prompt than the warm-up one, to change the prefill shape", Sampling(9, 0.0))
        answer("short", Sampling(17, 1.3, top_p=0.8, top_k=20))
        again = answer("a much longer prompt than the warm-up one, to change the prefill shape", Sampling(9, 0.0))
    finally:
        torch.compiler.set_stance("default")
    assert compiled_graph_count() == graphs_before + 1
    assert greedy == again
    assert generator.last_output_tokens == 9
