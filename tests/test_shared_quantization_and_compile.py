"""HQQ through Pruna on the int4 kernel, and the compiled decode step over KV-cache buckets, on the tiny SmolLM3
loaded by the production loader."""

import copy
import logging
import threading

import pytest
import torch
from hqq.backends.torchao import HQQLinearTorchWeightOnlynt4
from hqq.core.quantize import BaseQuantizeConfig, HQQLinear
from torch._subclasses.fake_tensor import FakeTensorMode

from shared.common.compiled_graphs import compiled_graph_count
from shared.optim.hqq_kernels import (
    DEQUANTIZE,
    TINYGEMM,
    SlowKernelError,
    TinyGemmInt4Linear,
    check_kernels,
    layer_kernels,
    tinygemm_takes_uint8,
)
from shared.optim.quantization import hqq_layers, use_int4_kernel, weight_bytes
from shared.text.generator import ChatInputs, TextGenerator, Usage
from shared.text.loading import load_causal_lm
from shared.text.sampling import Sampling
from shared.text.settings import TextSettings

CPU = torch.device("cpu")
BUCKETS = TextSettings(max_context=256, quantize="hqq4", quantize_choices=("hqq4",), cache_buckets=(64,))


@pytest.fixture(scope="module")
def quantized(tiny_smollm3):
    model, tokenizer = load_causal_lm(tiny_smollm3, torch.bfloat16, CPU)
    before = weight_bytes(model)
    model = use_int4_kernel(hqq_layers(model, CPU, bits=4, group_size=64))
    return model, tokenizer, before


@pytest.fixture(scope="module")
def generator(quantized):
    """The one compiled model of this module: buckets of 64 and 256 tokens, warmed up."""
    model, tokenizer, _ = quantized
    graphs_before = compiled_graph_count()
    generator = TextGenerator(model, tokenizer, CPU, BUCKETS)
    # Which threads run generate(), from warm-up on (a hook on the forward would land in the compiled graph).
    generator.forward_threads = []
    model_generate = model.generate

    def recording_generate(*args, **kwargs):
        generator.forward_threads.append(threading.get_ident())
        return model_generate(*args, **kwargs)

    model.generate = recording_generate
    generator.warm_up()
    generator.warm_up_threads = set(generator.forward_threads)
    generator.graphs_compiled = compiled_graph_count() - graphs_before
    return generator


def hqq_layer(in_features=128, out_features=64, group_size=64) -> HQQLinear:
    torch.manual_seed(0)
    linear = torch.nn.Linear(in_features, out_features, bias=False, dtype=torch.bfloat16)
    config = BaseQuantizeConfig(nbits=4, group_size=group_size)
    return HQQLinear(linear, quant_config=config, compute_dtype=torch.bfloat16, device="cpu")


def test_hqq_replaces_linear_layers_and_shrinks_them(quantized):
    model, _, before = quantized
    layer = model.model.layers[0]
    assert isinstance(layer.self_attn.q_proj, TinyGemmInt4Linear)
    assert isinstance(layer.mlp.down_proj, TinyGemmInt4Linear)
    assert isinstance(model.lm_head, torch.nn.Linear), "the output head stays in bf16"
    assert weight_bytes(model) < before


def test_every_quantized_layer_runs_the_int4_kernel(quantized):
    """Fails without the workaround: pruna + hqq alone leave every layer on the dequantize forward."""
    model, _, _ = quantized
    kernels = layer_kernels(model)
    assert len(kernels) == 14, kernels  # 7 linear layers x 2 decoder layers
    assert set(kernels.values()) == {TINYGEMM}


def test_the_packed_layer_computes_what_hqq_computes():
    reference = hqq_layer()
    packed = TinyGemmInt4Linear(reference, inner_k_tiles=8)
    x = torch.randn(3, 5, 128, dtype=torch.bfloat16)
    with torch.no_grad():
        expected, got = reference(x), packed(x)
    assert got.shape == expected.shape == (3, 5, 64)
    assert torch.allclose(got.float(), expected.float(), atol=0.05, rtol=0.02), (got - expected).abs().max()


def test_torch_2_14_takes_the_cuda_uint8_layout(monkeypatch):
    """The CUDA ops' shape and dtype contracts, checked on fake CUDA tensors (no GPU needed): since torch 2.5
    the conversion takes uint8 [n, k/2]; hqq's own check reads "2.14.1" as 2.1 and hands it int32."""
    assert tinygemm_takes_uint8("2.14.1") and tinygemm_takes_uint8("2.10.0+cu130") and tinygemm_takes_uint8("2.5.0")
    assert not tinygemm_takes_uint8("2.4.1")
    monkeypatch.setattr(torch, "__version__", "2.14.1")
    on_cuda = copy.copy(hqq_layer())
    on_cuda.device = "cuda"
    with FakeTensorMode(allow_non_fake_inputs=True):
        packed = TinyGemmInt4Linear(on_cuda, inner_k_tiles=8)
        assert not packed.on_cpu and packed.weight_int4pack.device.type == "cuda"
        assert packed.weight_int4pack.shape == (64 // 8, 128 // (8 * 16), 32, 8 // 2)
        assert packed(torch.empty(2, 5, 128, dtype=torch.bfloat16, device="cuda")).shape == (2, 5, 64)
        hqq_own = HQQLinearTorchWeightOnlynt4(
            None, quant_config=on_cuda.quant_config, device="cuda", del_orig=False, initialize=False, padding=False
        )
        with pytest.raises(RuntimeError, match="expected w to be uint8, got torch.int32"):
            # If this stops raising, hqq fixed its version check and shared/optim/hqq_kernels.py may go.
            hqq_own.initialize_with_hqq_quants(on_cuda.W_q, on_cuda.meta)


def test_a_layer_left_on_the_slow_forward_fails_setup_or_warns(tiny_smollm3, caplog):
    model, _ = load_causal_lm(tiny_smollm3, torch.bfloat16, CPU)
    # Groups of 128 can't run on the kernel for the 64-input layers (q/k/v, gate/up): those stay on HQQ.
    with caplog.at_level(logging.WARNING, logger="shared.optim.hqq_kernels"):
        model = use_int4_kernel(hqq_layers(model, CPU, group_size=128), require_fast_kernel=False)
    kernels = layer_kernels(model)
    assert kernels["model.layers.0.self_attn.q_proj"] == DEQUANTIZE
    assert kernels["model.layers.0.mlp.down_proj"] == TINYGEMM
    assert "HQQ layers run the slow HQQ dequantize + matmul forward (model.layers.0.self_attn.q_proj" in caplog.text
    with pytest.raises(SlowKernelError, match=r"12 of 14 HQQ layers .* Set HQQ_FAST_KERNEL=warn"):
        check_kernels(kernels, {}, require_fast=True)


def test_one_graph_per_bucket_compiled_at_warm_up(generator):
    assert generator.caches.lengths == (64, 256)
    assert generator.graphs_compiled == 2
    short, long = (generator.caches.caches[n].layers[0] for n in (64, 256))
    assert short.keys.data_ptr() == long.keys.data_ptr(), "the buckets share one allocation"
    assert short.keys.shape[2] == 64 and long.keys.shape[2] == 256


def test_requests_decode_on_the_thread_that_warmed_up(generator):
    """torch keeps compiled functions and CUDA graph trees per thread: a request on a fresh thread would
    re-warm and re-record them (and assert on torch 2.11). Every generate() runs on one long-lived thread."""
    assert len(generator.warm_up_threads) == 1
    assert threading.get_ident() not in generator.warm_up_threads, "not setup's thread: a thread of its own"
    for _ in range(2):
        generator.forward_threads.clear()
        "".join(generator.stream(prompt(generator, 10), Sampling(6, 0.0)))
        assert set(generator.forward_threads) == generator.warm_up_threads


def test_compile_config_is_set_on_the_generation_thread(quantized):
    """dynamo's config is per thread since torch 2.12: the recompile limit the buckets need (above dynamo's
    default of 8 here) must be the one the generation thread sees. No warm-up: nothing is compiled."""
    model, tokenizer, _ = quantized
    lengths = (32, 48, 64, 80, 96)
    settings = TextSettings(max_context=112, quantize="hqq4", quantize_choices=("hqq4",), cache_buckets=lengths)
    many_buckets = TextGenerator(model, tokenizer, CPU, settings)
    assert len(many_buckets.caches.lengths) == 6
    assert many_buckets.on_generation_thread(lambda: torch._dynamo.config.recompile_limit) >= 12


def test_a_second_request_of_a_bucket_does_no_compile_work(generator):
    from torch._dynamo.utils import counters

    def work() -> tuple[int, int]:
        # frames dynamo had to convert (a cache hit never reaches it), graphs it made
        return counters["frames"]["total"], compiled_graph_count()

    "".join(generator.stream(prompt(generator, 12), Sampling(8, 0.0)))
    before = work()
    "".join(generator.stream(prompt(generator, 15), Sampling(8, 0.7)))
    assert work() == before


def prompt(generator, tokens: int) -> ChatInputs:
    ids = torch.randint(10, len(generator.tokenizer), (1, tokens), generator=torch.Generator().manual_seed(tokens))
    return ChatInputs({"input_ids": ids, "attention_mask": torch.ones_like(ids)})


def test_requests_take_the_smallest_bucket_and_never_recompile(generator):
    last = Usage()

    def answer(tokens: int, sampling: Sampling) -> str:
        return "".join(generator.stream(prompt(generator, tokens), sampling, last))

    graphs = compiled_graph_count()
    torch.compiler.set_stance("fail_on_recompile")
    try:
        short = answer(10, Sampling(20, 0.0))
        assert last.cache_length == 64
        answer(40, Sampling(24, 1.3, top_p=0.8, top_k=20))
        assert last.cache_length == 64  # 40 + 24 = 64 fits exactly
        longer = answer(10, Sampling(120, 0.0))
        assert last.cache_length == 256
        answer(200, Sampling(56, 0.7))
        assert last.cache_length == 256
        again = answer(10, Sampling(20, 0.0))
    finally:
        torch.compiler.set_stance("default")
    assert compiled_graph_count() == graphs
    assert short == again
    assert longer.startswith(short), "the same greedy answer from either bucket"
    assert last.output_tokens == 20
