"""Each request samples with its own seeded generator, whichever engine decodes it.

Both engines (one request on the compiled static cache, many on the batch engine) take the next token from the
logits after this module has chosen it: the chosen token is left as the only finite score, so the engine's own
greedy pick returns it. Sampling is then the same code on both paths, draws nothing from torch's process-wide
generator (which concurrent requests would share), and a seed gives the same answer alone or in a batch.
"""

from dataclasses import dataclass

import torch
from transformers import LogitsProcessor


@dataclass(frozen=True)
class Sampling:
    max_new_tokens: int
    temperature: float
    top_p: float = 1.0
    top_k: int = 0

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


class RequestSampler:
    """One request's next-token choice: temperature, then top-k, then top-p (transformers' order), then a draw
    from the request's own generator."""

    def __init__(self, sampling: Sampling, seed: int, device: torch.device):
        self.sampling = sampling
        self.generator = None if sampling.greedy else torch.Generator(device=device).manual_seed(seed)

    def pick(self, scores: torch.Tensor) -> torch.Tensor:
        """The next token (a 1-element tensor, left on the device) for one position's scores."""
        if self.generator is None:
            return scores.argmax(dim=-1, keepdim=True)
        scores = scores.float() / self.sampling.temperature
        if 0 < self.sampling.top_k < scores.shape[-1]:
            kth = torch.topk(scores, self.sampling.top_k).values[-1]
            scores = scores.masked_fill(scores < kth, float("-inf"))
        if self.sampling.top_p < 1.0:
            ordered, order = torch.sort(scores, descending=False)
            cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)
            dropped = cumulative <= 1 - self.sampling.top_p
            dropped[-1] = False  # the likeliest token always stays
            scores = scores.masked_fill(dropped.scatter(0, order, dropped), float("-inf"))
        return torch.multinomial(scores.softmax(dim=-1), 1, generator=self.generator)

    def force(self, scores: torch.Tensor) -> None:
        """Leave the picked token as the only finite score of `scores` (one position, changed in place)."""
        token = self.pick(scores)
        scores.fill_(float("-inf"))
        scores.index_fill_(0, token, 0.0)


class SampleWith(LogitsProcessor):
    """generate()'s logits processor for one request: with greedy decoding, it makes the request's own sampler
    choose every token."""

    def __init__(self, sampler: RequestSampler):
        self.sampler = sampler

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.clone()
        for row in scores:
            self.sampler.force(row)
        return scores
