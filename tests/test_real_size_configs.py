"""The GPU benchmark's real-size architectures match the published models' sizes (built on the meta device:
no memory, no weights)."""

import pytest
import torch

from scripts.benchmarks import real_size


@pytest.mark.parametrize(
    ("factory", "published_billions"),
    [
        (real_size.smollm3_3b, 3.08),  # SmolLM3-3B
        (real_size.gemma3_4b_text, 3.88),  # Gemma-3-4B language model (the 4.3B total adds SigLIP)
        (real_size.phi4_14b, 14.66),  # Phi-4
        (real_size.flux_dev_transformer, 11.90),  # FLUX.1-dev transformer
        (real_size.t5_xxl_encoder, 4.76),  # FLUX.1-dev's T5-XXL text encoder
    ],
)
def test_parameter_count_matches_the_published_model(factory, published_billions):
    model = real_size.build_on(torch.device("meta"), factory)
    billions = sum(p.numel() for p in model.parameters()) / 1e9
    assert billions == pytest.approx(published_billions, rel=0.03)
