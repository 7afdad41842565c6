"""Tiny safety models with the real architectures, wired so that a colour decides the verdict.

`build_tiny_safety_checker`: diffusers' StableDiffusionSafetyChecker (CLIP vision tower, projection, 17
concept and 3 special-care embeddings with their thresholds) and a CLIPImageProcessor.
`build_tiny_nsfw_classifier`: a ViTForImageClassification labelled like Falconsai/nsfw_image_detection
("normal", "nsfw") and a ViTImageProcessor.

Both towers are scripted to measure how red an image is, so the verdict follows from the construction, not
from the random weights (every weight on the path below is set):
- each patch embeds as [mean red, mean blue, 1, 0, ...] of its normalized pixels (the 1 comes from the
  position embeddings, so that after layer norm a faint colour cast stays faint); the class token is
  [0, 0, 1, 0, ...];
- one encoder layer whose queries and keys are zero attends uniformly, so the class token receives the mean
  of the (layer-normed) tokens; value and output projections are the identity, the MLP's output projection
  is zero; the final layer norm leaves a vector u whose u0 - u1 grows with (red - blue);
- checker: the first concept embedding is e0 - e1 with threshold 0.35. Cosines: solid red 0.445, dark red
  or pink about 0.27, grey, white, black or green within 0.08 of 0, solid blue -0.46, the tiny FLUX
  pipeline's outputs below 0.03. The 16 other concepts and the 3 special-care embeddings have threshold 2,
  which no cosine reaches;
- classifier: "nsfw" logit 8 * (u0 - u1) - 16 against 0 for "normal": solid red +24, pink +8, tiny FLUX
  outputs below -9, solid blue -56.
`flag="blue"` flips the colour; `flag="any"` flags every image (for tests of what happens then).
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
CONCEPT_THRESHOLD = 0.35
FLAGS = ("red", "blue", "any")


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
        _add_constant_channel(tower.embeddings.position_embedding.weight)
        _attend_uniformly(layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj,
                          layer.self_attn.out_proj, layer.mlp.fc2)
        checker.visual_projection.weight.copy_(torch.eye(config.projection_dim, WIDTH))
        checker.concept_embeds.zero_()
        checker.concept_embeds[0, :2] = _red_direction(flag)
        checker.concept_embeds[1:] = torch.randn_like(checker.concept_embeds[1:])
        checker.concept_embeds_weights.fill_(UNREACHABLE)
        checker.concept_embeds_weights[0] = -UNREACHABLE if flag == "any" else CONCEPT_THRESHOLD
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
        _add_constant_channel(embeddings.position_embeddings[0])
        attention = layer.attention
        _attend_uniformly(attention.attention.query, attention.attention.key, attention.attention.value,
                          attention.output.dense, layer.output.dense)
        classifier.classifier.weight.zero_()
        classifier.classifier.bias.zero_()
        if flag == "any":
            classifier.classifier.bias[1] = 1.0
        else:
            classifier.classifier.weight[1, :2] = 8.0 * _red_direction(flag)
            classifier.classifier.bias[1] = -16.0
    classifier.save_pretrained(out_dir)
    # The real classifier's processor resizes straight to a square, without cropping.
    ViTImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}).save_pretrained(out_dir)
    return out_dir


def _red_direction(flag: str) -> torch.Tensor:
    if flag not in FLAGS:
        raise ValueError(f"flag must be one of {FLAGS}, got {flag!r}")
    return torch.tensor([-1.0, 1.0]) if flag == "blue" else torch.tensor([1.0, -1.0])


def _embed_colour_balance(patch_conv: torch.nn.Conv2d) -> None:
    """Channel 0 of each patch embedding is the patch's mean red value, channel 1 its mean blue value."""
    patch_conv.weight.zero_()
    pixels = patch_conv.weight.shape[2] * patch_conv.weight.shape[3]
    patch_conv.weight[0, 0] = 1.0 / pixels
    patch_conv.weight[1, 2] = 1.0 / pixels
    if patch_conv.bias is not None:
        patch_conv.bias.zero_()


def _add_constant_channel(position_embeddings: torch.Tensor) -> None:
    """Every token gets 1 in channel 2: against it, a faint colour cast stays faint after layer norm."""
    position_embeddings.zero_()
    position_embeddings[:, 2] = 1.0


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
