"""Tiny safety models with the real architectures, wired so that a colour decides the verdict.

`build_tiny_safety_checker`: diffusers' StableDiffusionSafetyChecker (CLIP vision tower, projection, 17
concept and 3 special-care embeddings with their thresholds) and a CLIPImageProcessor.
`build_tiny_nsfw_classifier`: a ViTForImageClassification labelled like Falconsai/nsfw_image_detection
("normal", "nsfw") and a ViTImageProcessor.

Both towers are scripted to compute an image's colour balance, so the verdict follows from the construction:
- each patch embeds as [mean red, mean blue, 0, ...] of its normalized pixels; the class token and every
  position embedding are zero;
- one encoder layer whose queries and keys are zero attends uniformly, so the class token receives the mean
  of the (layer-normed) patch embeddings; value and output projections are the identity, the MLP's output
  projection is zero;
- the final layer norm leaves u = normalize([r, b, 0, ...]) in the class token.
The checker's first concept embedding is e0 - e1, so cos(u, concept) = (r - b) / (std * sqrt(2 * width)):
about +0.99 for solid red, -0.99 for solid blue, whatever the random weights elsewhere. Its threshold is 0.5;
the 16 other concepts and the 3 special-care embeddings have threshold 2, which no cosine reaches. The
classifier's "nsfw" logit is 8 * (u0 - u1) against 0 for "normal". `flag="blue"` flips both signs.
"""

from pathlib import Path

import torch
from transformers import (
    CLIPConfig,
    CLIPImageProcessor,
    ViTConfig,
    ViTForImageClassification,
    ViTImageProcessor,
)

IMAGE_SIZE, PATCH_SIZE, WIDTH = 32, 16, 32
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
UNREACHABLE = 2.0  # a cosine is at most 1


def build_tiny_safety_checker(out_dir: str | Path, flag: str = "red", seed: int = 0) -> Path:
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker

    out_dir = Path(out_dir)
    config = CLIPConfig(
        text_config={"hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2},
        vision_config={
            "hidden_size": WIDTH, "intermediate_size": 37, "num_hidden_layers": 1, "num_attention_heads": 2,
            "image_size": IMAGE_SIZE, "patch_size": PATCH_SIZE,
        },
        projection_dim=16,
    )
    torch.manual_seed(seed)
    checker = StableDiffusionSafetyChecker(config).eval()
    tower = checker.vision_model.vision_model
    layer = tower.encoder.layers[0]
    with torch.no_grad():
        _embed_colour_balance(tower.embeddings.patch_embedding)
        tower.embeddings.class_embedding.zero_()
        tower.embeddings.position_embedding.weight.zero_()
        _attend_uniformly(layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj,
                          layer.self_attn.out_proj, layer.mlp.fc2)
        checker.visual_projection.weight.copy_(torch.eye(config.projection_dim, WIDTH))
        checker.concept_embeds.zero_()
        checker.concept_embeds[0, :2] = _red_direction(flag)
        checker.concept_embeds[1:] = torch.randn_like(checker.concept_embeds[1:])
        checker.concept_embeds_weights.fill_(UNREACHABLE)
        checker.concept_embeds_weights[0] = 0.5
        checker.special_care_embeds.copy_(torch.randn_like(checker.special_care_embeds))
        checker.special_care_embeds_weights.fill_(UNREACHABLE)
    checker.save_pretrained(out_dir)
    CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    ).save_pretrained(out_dir)
    return out_dir


def build_tiny_nsfw_classifier(out_dir: str | Path, flag: str = "red", seed: int = 0) -> Path:
    out_dir = Path(out_dir)
    config = ViTConfig(
        hidden_size=WIDTH, intermediate_size=37, num_hidden_layers=1, num_attention_heads=2,
        image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, id2label={0: "normal", 1: "nsfw"},
        label2id={"normal": 0, "nsfw": 1},
    )
    torch.manual_seed(seed)
    classifier = ViTForImageClassification(config).eval()
    embeddings, layer = classifier.vit.embeddings, classifier.vit.encoder.layer[0]
    with torch.no_grad():
        _embed_colour_balance(embeddings.patch_embeddings.projection)
        embeddings.cls_token.zero_()
        embeddings.position_embeddings.zero_()
        attention = layer.attention
        _attend_uniformly(attention.attention.query, attention.attention.key, attention.attention.value,
                          attention.output.dense, layer.output.dense)
        classifier.classifier.weight.zero_()
        classifier.classifier.bias.zero_()
        classifier.classifier.weight[1, :2] = 8.0 * _red_direction(flag)
    classifier.save_pretrained(out_dir)
    # The real classifier's processor resizes straight to a square, without cropping.
    ViTImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}).save_pretrained(out_dir)
    return out_dir


def _red_direction(flag: str) -> torch.Tensor:
    if flag not in ("red", "blue"):
        raise ValueError(f"flag must be red or blue, got {flag!r}")
    return torch.tensor([1.0, -1.0]) if flag == "red" else torch.tensor([-1.0, 1.0])


def _embed_colour_balance(patch_conv: torch.nn.Conv2d) -> None:
    """Channel 0 of each patch embedding is the patch's mean red value, channel 1 its mean blue value."""
    patch_conv.weight.zero_()
    pixels = patch_conv.weight.shape[2] * patch_conv.weight.shape[3]
    patch_conv.weight[0, 0] = 1.0 / pixels
    patch_conv.weight[1, 2] = 1.0 / pixels
    if patch_conv.bias is not None:
        patch_conv.bias.zero_()


def _attend_uniformly(query, key, value, output, mlp_out) -> None:
    """Zero queries and keys: every token attends equally to all; values pass through; the MLP adds nothing."""
    for projection in (query, key, mlp_out):
        projection.weight.zero_()
        if projection.bias is not None:
            projection.bias.zero_()
    for projection in (value, output):
        projection.weight.copy_(torch.eye(projection.weight.shape[0]))
        if projection.bias is not None:
            projection.bias.zero_()
