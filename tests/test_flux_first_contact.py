"""What a GPU would hit first in the FLUX engine, checked on CPU: the pipeline never runs under
inference_mode, and the NF4 transformer compiles as one graph with the engine's compile call."""

import bitsandbytes as bnb
import pytest
import torch

from shared.flux.engine import FluxEngine, ImageRequest, compile_transformer
from shared.flux.settings import FluxSettings
from shared.lora.cache import LoraSettings


def test_generate_runs_the_transformer_under_no_grad_not_inference_mode(tiny_flux):
    """Compiled graphs over tensor-subclass weights (torchao float8, bitsandbytes 4-bit) under inference_mode
    have open bugs (pytorch#170419); diffusers' pipelines use no_grad. Eager here: the mode is the engine's."""
    engine = FluxEngine(FluxSettings(compile=False, lora=LoraSettings(max_rank=8)), torch.device("cpu"))
    engine.load(tiny_flux)
    modes = []
    engine.text2img.transformer.register_forward_pre_hook(
        lambda *_: modes.append((torch.is_inference_mode_enabled(), torch.is_grad_enabled()))
    )
    image = engine.generate(ImageRequest(prompt="a cat", width=64, height=64, steps=2, guidance=3.5, seed=0))
    assert image.size == (64, 64)
    assert modes and set(modes) == {(False, False)}, modes


def nf4_transformer() -> torch.nn.Module:
    """A FLUX transformer whose linear layers are bitsandbytes NF4, as diffusers' BitsAndBytesConfig loads it
    on a GPU (that path needs CUDA; bnb's Linear4bit runs on CPU for sizes that are multiples of 64)."""
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=64, num_layers=1, num_single_layers=1, attention_head_dim=32,
        num_attention_heads=2, joint_attention_dim=64, pooled_projection_dim=64, guidance_embeds=True,
        axes_dims_rope=(8, 12, 12),
    ).to(torch.bfloat16)
    for name, linear in list(transformer.named_modules()):
        if not isinstance(linear, torch.nn.Linear) or linear.in_features % 64 or linear.out_features % 64:
            continue
        nf4 = bnb.nn.Linear4bit(linear.in_features, linear.out_features, bias=linear.bias is not None,
                                compute_dtype=torch.bfloat16, quant_type="nf4")
        nf4.weight = bnb.nn.Params4bit(linear.weight.data, requires_grad=False, quant_type="nf4")
        if linear.bias is not None:
            nf4.bias = torch.nn.Parameter(linear.bias.data, requires_grad=False)
        parent_name, _, child = name.rpartition(".")
        setattr(transformer.get_submodule(parent_name) if parent_name else transformer, child, nf4.to("cpu"))
    return transformer


@pytest.fixture
def default_dynamo_config():
    with torch._dynamo.config.patch(capture_dynamic_output_shape_ops=False):
        yield


def test_nf4_transformer_compiles_fullgraph_with_the_engines_compile_call(default_dynamo_config):
    transformer = nf4_transformer()
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in transformer.modules())
    inputs = {
        "hidden_states": torch.randn(1, 16, 64, dtype=torch.bfloat16),
        "encoder_hidden_states": torch.randn(1, 8, 64, dtype=torch.bfloat16),
        "pooled_projections": torch.randn(1, 64, dtype=torch.bfloat16),
        "timestep": torch.tensor([0.5]),
        "guidance": torch.tensor([3.5]),
        "img_ids": torch.zeros(16, 3),
        "txt_ids": torch.zeros(8, 3),
    }
    with torch.no_grad():
        eager = transformer(**inputs).sample
        compile_transformer(transformer, "nf4")
        # The setting diffusers' bnb 4-bit compile tests rely on, made on the compiling thread.
        assert torch._dynamo.config.capture_dynamic_output_shape_ops
        compiled = transformer(**inputs).sample  # fullgraph: a graph break would raise here
    # bf16 rounding differs between inductor and eager kernels: a few elements by one bf16 step.
    torch.testing.assert_close(compiled, eager, atol=0.1, rtol=0.1)


def test_other_quantizations_leave_dynamos_shape_capture_alone(default_dynamo_config):
    module = torch.nn.Linear(4, 4)
    compile_transformer(module, "fp8")
    assert not torch._dynamo.config.capture_dynamic_output_shape_ops
