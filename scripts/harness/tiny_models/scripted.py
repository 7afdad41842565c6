"""Wire a tiny random model so greedy decoding follows a script: the next token is a fixed function of the
current one.

With every attention and MLP output projection at zero, the last hidden state is the current token's
embedding; the output head then maps each scripted token's (normalized) embedding to its successor.
Random embeddings of 256 dimensions are nearly orthogonal, so the successor wins by a wide margin, also
after 4-bit quantization of the (zeroed-out) layers. Needs untied embeddings and output head.
"""

import torch


@torch.no_grad()
def script_next_tokens(model, successors: list[tuple[int, int]]) -> None:
    sources = [token for token, _ in successors]
    assert len(set(sources)) == len(sources), "each scripted token must have one successor"
    for layer in model.model.layers:
        layer.self_attn.o_proj.weight.zero_()
        layer.mlp.down_proj.weight.zero_()
    embeddings = torch.randn_like(model.model.embed_tokens.weight)
    model.model.embed_tokens.weight.copy_(embeddings)
    normalized = embeddings / embeddings.pow(2).mean(dim=1, keepdim=True).sqrt()
    head = torch.zeros_like(model.lm_head.weight)
    for token, successor in successors:
        head[successor] += 30.0 * normalized[token] / normalized.shape[1]
    model.lm_head.weight.copy_(head)


def chain(tokens: list[int]) -> list[tuple[int, int]]:
    return list(zip(tokens[:-1], tokens[1:], strict=True))
