"""Each request's own sampler, and the batch engine's view of the served model (shared/text/sampling.py,
shared/text/batching.py), on the tiny SmolLM3 and Gemma-3."""

import asyncio

import pytest
import torch
from transformers import Gemma3ForCausalLM, TopKLogitsWarper, TopPLogitsWarper

from shared.text.batching import BatchEngine, model_sharing_weights, text_causal_lm
from shared.text.generator import IncrementalDetokenizer, TextGenerator, chat_messages
from shared.text.loading import load_causal_lm, load_image_text_model
from shared.text.sampling import RequestSampler, Sampling
from shared.text.settings import TextSettings

CPU = torch.device("cpu")


def draws(sampling: Sampling, seed: int, scores: torch.Tensor, n: int = 64) -> list[int]:
    sampler = RequestSampler(sampling, seed, CPU)
    return [int(sampler.pick(scores)) for _ in range(n)]


def test_greedy_takes_the_argmax_and_draws_nothing():
    scores = torch.tensor([0.1, 3.0, 2.9, -1.0])
    sampler = RequestSampler(Sampling(4, 0.0), 1, CPU)
    assert sampler.generator is None
    state = torch.get_rng_state()
    assert int(sampler.pick(scores)) == 1
    assert torch.equal(torch.get_rng_state(), state)


def test_a_seed_repeats_its_draws_and_another_seed_differs_without_touching_torchs_generator():
    scores = torch.randn(200)
    sampling = Sampling(4, 1.0)
    state = torch.get_rng_state()
    first = draws(sampling, 7, scores)
    assert draws(sampling, 7, scores) == first
    assert draws(sampling, 8, scores) != first
    assert torch.equal(torch.get_rng_state(), state), "concurrent requests would share torch's generator"


@pytest.mark.parametrize("top_k, top_p", [(5, 1.0), (0, 0.6), (20, 0.9), (1, 1.0)])
def test_top_k_and_top_p_keep_what_transformers_warpers_keep(top_k, top_p):
    scores = torch.randn(300, generator=torch.Generator().manual_seed(3)) * 3
    sampling = Sampling(4, 0.8, top_p=top_p, top_k=top_k)
    expected = scores[None] / 0.8
    if top_k:
        expected = TopKLogitsWarper(top_k)(None, expected)
    if top_p < 1:
        expected = TopPLogitsWarper(top_p)(None, expected)
    allowed = set(torch.isfinite(expected[0]).nonzero().flatten().tolist())
    drawn = set(draws(sampling, 11, scores, n=400))
    assert drawn <= allowed
    assert len(drawn) > 1 or len(allowed) == 1


def test_force_leaves_the_pick_as_the_only_finite_score():
    scores = torch.randn(50)
    kept = scores.clone()
    sampler, twin = RequestSampler(Sampling(4, 1.0), 5, CPU), RequestSampler(Sampling(4, 1.0), 5, CPU)
    sampler.force(scores)
    assert torch.isfinite(scores).sum() == 1
    assert int(scores.argmax()) == int(twin.pick(kept))


@pytest.fixture(scope="module")
def smollm3(tiny_smollm3):
    model, tokenizer = load_causal_lm(tiny_smollm3, torch.bfloat16, CPU)
    return model.eval(), tokenizer


def test_the_batch_view_shares_every_weight_and_switches_attention_only_for_itself(smollm3):
    model, _ = smollm3
    view = model_sharing_weights(model)
    view.set_attn_implementation("paged|sdpa")
    assert model.config._attn_implementation == "sdpa"
    assert all(layer.self_attn.config is view.config for layer in view.model.layers)
    ours = {name: p.data_ptr() for name, p in model.named_parameters()}
    assert {name: p.data_ptr() for name, p in view.named_parameters()} == ours
    assert view.model.layers[0] is not model.model.layers[0]


def test_gemma_batches_on_its_language_model_and_head_over_the_same_weights(tiny_gemma3):
    model, _ = load_image_text_model(tiny_gemma3, torch.bfloat16, CPU)
    text = text_causal_lm(model, Gemma3ForCausalLM)
    assert text.lm_head.weight.data_ptr() == model.lm_head.weight.data_ptr()
    assert not any(p.is_meta for p in text.parameters())
    ids = torch.tensor([[2, 10, 11, 12]])
    with torch.no_grad():
        whole = model(input_ids=ids).logits
        alone = text(input_ids=ids).logits
    torch.testing.assert_close(alone, whole)


def test_the_batch_engine_answers_each_request_as_the_single_request_path_does(smollm3):
    model, tokenizer = smollm3
    settings = TextSettings(max_context=1024, compile=False, max_requests=4)
    generator = TextGenerator(model, tokenizer, CPU, settings)
    engine = BatchEngine(model, generator.end_of_turn_ids(), settings)
    try:
        engine.warm_up()
        requests = [("Hello", Sampling(12, 0.0)), ("A story", Sampling(12, 1.0, 0.9, 40)),
                    ("2+2", Sampling(5, 0.7)), ("Why?", Sampling(9, 1.2, 1.0, 0))]
        chats = [generator.encode_chat(chat_messages(prompt)) for prompt, _ in requests]
        alone = ["".join(generator.stream(chat, sampling, seed=7))
                 for chat, (_, sampling) in zip(chats, requests, strict=True)]

        async def batched(chat, sampling):
            pieces = []
            detokenizer = IncrementalDetokenizer(tokenizer, pieces=type("Put", (), {"put": pieces.append})())
            async for new in engine.stream_tokens(chat.tensors["input_ids"][0].tolist(), sampling, 7, CPU):
                detokenizer.add(new)
            detokenizer.end()
            return "".join(pieces), detokenizer.generated

        async def together():
            return await asyncio.gather(*(batched(chat, s) for chat, (_, s) in zip(chats, requests, strict=True)))

        answers = asyncio.run(together())
        assert [tokens for _, tokens in answers] == [s.max_new_tokens for _, s in requests]  # random model: no EOS
        same = sum(text == solo for (text, _), solo in zip(answers, alone, strict=True))
        # bf16: the packed batch rounds differently from one sequence alone, which can flip a near-tied draw.
        assert same >= 3, (answers, alone)
        assert answers[0][0] == alone[0], "greedy: the argmax survives the rounding"
        assert not engine.samplers, "every request's sampler is dropped when it ends"
    finally:
        engine.stop()
