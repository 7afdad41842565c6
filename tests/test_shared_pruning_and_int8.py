"""Layer filters, pruning methods and INT8 weight-only quantization on the tiny Gemma-3."""

import asyncio

import pytest
import torch
from transformers import Gemma3ForConditionalGeneration

from scripts.harness.deployment_predictor import predictor_class
from shared.optim.layer_filter import DECODER_PRUNABLE, LANGUAGE_MODEL_LINEARS, LayerFilter
from shared.optim.pruning import PruneSettings, cubic_schedule, prune
from shared.optim.quantization import inner_tensors, quantize_int8_weight_only


@pytest.fixture
def model(tiny_gemma3):
    return Gemma3ForConditionalGeneration.from_pretrained(tiny_gemma3, dtype=torch.bfloat16)


def names(model, layers: LayerFilter) -> set[str]:
    return {name for name, _ in layers.select(model)}


def test_prunable_map_touches_attention_inputs_and_mlp_only(model):
    selected = names(model, DECODER_PRUNABLE)
    kinds = {name.rsplit(".", 1)[-1] for name in selected}
    assert kinds == {"q_proj", "k_proj", "v_proj", "gate_proj", "up_proj", "down_proj"}
    assert all("language_model" in name for name in selected), "the vision tower is never pruned"
    untouched = {n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)} - selected
    assert any(n.endswith("o_proj") for n in untouched) and "lm_head" in untouched


def test_int8_map_covers_every_language_model_linear_and_nothing_else(model):
    selected = names(model, LANGUAGE_MODEL_LINEARS)
    assert len(selected) == 14  # 2 layers x (q, k, v, o, gate, up, down)
    assert not any("vision" in n or "lm_head" in n or "projector" in n for n in selected)


def test_filter_rejects_non_linear_modules(model):
    assert not LayerFilter(include=(r"norm",))(model.model.language_model.norm, "model.language_model.norm")


@pytest.mark.parametrize("method", ["magnitude", "gradual", "structured"])
@pytest.mark.parametrize("target", [0.25, 0.5])  # whole channels of the tiny layers hit these exactly
def test_each_method_reaches_its_target_sparsity_within_one_percent(model, method, target):
    outside_before = {n: m.weight.clone() for n, m in model.named_modules()
                      if isinstance(m, torch.nn.Linear) and not DECODER_PRUNABLE(m, n)}
    report = prune(model, DECODER_PRUNABLE, PruneSettings(method, target, steps=5))
    assert set(report) == {"q_proj", "k_proj", "v_proj", "gate_proj", "up_proj", "down_proj"}
    for group, sparsity in report.items():
        assert abs(sparsity - target) <= 0.01, (group, sparsity)
    for name, module in model.named_modules():
        if name in outside_before:
            assert torch.equal(module.weight, outside_before[name]), f"{name} is outside the filter"


def test_structured_pruning_removes_whole_output_channels(model):
    prune(model, DECODER_PRUNABLE, PruneSettings("structured", 0.5))
    weight = model.model.language_model.layers[0].mlp.up_proj.weight
    zero_rows = (weight == 0).all(dim=1)
    assert zero_rows.float().mean() == pytest.approx(0.5, abs=0.01)
    assert (weight[~zero_rows] != 0).float().mean() > 0.99


def test_gradual_schedule_rises_to_the_target():
    schedule = cubic_schedule(0.6, 5)
    assert schedule == sorted(schedule) and schedule[-1] == pytest.approx(0.6)
    assert schedule[0] > 0.6 / 5, "cubic: most of the pruning happens early"


def test_bad_settings_name_the_variable():
    with pytest.raises(ValueError, match="PRUNE_METHOD must be one of"):
        PruneSettings("random", 0.5)
    with pytest.raises(ValueError, match="PRUNE_SPARSITY must be in"):
        PruneSettings("magnitude", 1.5)


def test_int8_weights_take_at_most_60_percent_of_bf16(model):
    report = quantize_int8_weight_only(model, LANGUAGE_MODEL_LINEARS)
    assert report["layers"] == 14
    assert report["bytes_after"] <= 0.6 * report["bytes_before"]
    assert "Int8" in type(model.model.language_model.layers[0].mlp.up_proj.weight).__name__
    assert type(model.model.vision_tower.vision_model.encoder.layers[0].mlp.fc1.weight) is torch.nn.Parameter


def fingerprint(model) -> dict[str, list[torch.Tensor]]:
    return {name: [t.detach().clone() for t in inner_tensors(v)] for name, v in model.state_dict().items()}


async def answer(pieces) -> str:
    return "".join([piece async for piece in pieces])


def test_requests_never_change_the_model(tiny_gemma3, monkeypatch):
    """Optimizations happen once in setup: N predictions later every weight is bit-identical."""
    monkeypatch.setenv("GEMMA3_MODEL_DIR", str(tiny_gemma3))
    monkeypatch.setenv("PRUNE_METHOD", "gradual")
    monkeypatch.setenv("PRUNE_SPARSITY", "0.4")
    monkeypatch.setenv("DEVICE", "cpu")
    predictor = predictor_class("gemma3")()
    predictor.setup()
    before = fingerprint(predictor.service.generator.model)
    args = dict(image=None, system_prompt="", max_new_tokens=4, temperature=1.0, top_p=0.95, top_k=64)
    args["stop_sequences"] = ""
    for seed in range(3):
        assert isinstance(asyncio.run(answer(predictor.run(prompt="Hi", seed=seed, **args))), str)
    after = fingerprint(predictor.service.generator.model)
    assert before.keys() == after.keys()
    for name in before:
        assert all(torch.equal(a, b) for a, b in zip(before[name], after[name], strict=True)), name
