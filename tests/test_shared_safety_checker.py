import os
import re

import pytest
import torch
from PIL import Image

from scripts.harness.tiny_models.safety_checker import (
    BLUE,
    CONCEPT_THRESHOLD,
    GREEN,
    RED,
    build_tiny_nsfw_classifier,
    build_tiny_safety_checker,
)
from shared.common.settings import RuntimeSettings
from shared.flux.safety_checker import (
    NSFW_CLASSIFIER,
    SAFETY_CHECKER,
    AllImagesFlaggedError,
    SafetyChecker,
    withhold_flagged,
)

CPU = torch.device("cpu")


def solid(colour, size=(64, 64)) -> Image.Image:
    return Image.new("RGB", size, colour)


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("tiny-safety")
    return {
        "checker": str(build_tiny_safety_checker(root / "checker", flag="red")),
        "classifier": str(build_tiny_nsfw_classifier(root / "classifier", flag="red")),
        "lenient classifier": str(build_tiny_nsfw_classifier(root / "lenient", flag="blue")),
        "strict checker": str(build_tiny_safety_checker(root / "strict-checker", flag="any")),
        "strict classifier": str(build_tiny_nsfw_classifier(root / "strict-classifier", flag="any")),
    }


def load(monkeypatch, checker_dir: str, classifier_dir: str) -> SafetyChecker:
    """Through the production loader: the local directories named by the env vars of the model sources."""
    monkeypatch.setenv(SAFETY_CHECKER.local_dir_env, checker_dir)
    monkeypatch.setenv(NSFW_CLASSIFIER.local_dir_env, classifier_dir)
    return SafetyChecker.load(CPU, runtime=RuntimeSettings.from_env(os.environ))


@pytest.fixture
def checker(model_dirs, monkeypatch) -> SafetyChecker:
    return load(monkeypatch, model_dirs["checker"], model_dirs["classifier"])


def test_red_fixture_is_flagged_and_blue_is_not(checker):
    assert checker.flagged([solid(RED)]) == [True]
    assert checker.flagged([solid(BLUE)]) == [False]
    assert checker.flagged([solid(GREEN)]) == [False]


def test_only_a_strong_red_is_flagged_not_a_tint(checker):
    assert checker.flagged([solid((255, 128, 128)), solid((128, 0, 0)), solid((128, 128, 128))]) == [False] * 3


def test_the_strict_tiny_models_flag_everything(model_dirs, monkeypatch):
    checker = load(monkeypatch, model_dirs["strict checker"], model_dirs["strict classifier"])
    assert checker.flagged([solid(BLUE), solid(GREEN), solid(RED)]) == [True] * 3


def test_a_batch_gets_one_verdict_per_image_in_order(checker):
    images = [solid(BLUE), solid(RED, (1024, 768)), solid(BLUE, (512, 512)), solid(RED)]
    assert checker.flagged(images) == [False, True, False, True]
    assert checker.flagged([]) == []


def test_grayscale_and_rgba_inputs_are_checked_as_rgb(checker):
    assert checker.flagged([solid(RED).convert("RGBA"), solid(BLUE).convert("L")]) == [True, False]


def test_loads_the_saved_models_through_the_production_loader(checker):
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker

    assert isinstance(checker.concepts.model, StableDiffusionSafetyChecker)
    # the scripted threshold, loaded back
    assert checker.concepts.model.concept_embeds_weights[0].item() == pytest.approx(CONCEPT_THRESHOLD)
    assert checker.classifier.model.config.id2label == {0: "normal", 1: "nsfw"}
    assert checker.concepts.dtype == torch.float32 and checker.concepts.model.dtype == torch.float32


def test_the_classifier_overrules_the_concept_checker(model_dirs, monkeypatch):
    """cog-flux's rule: an image the concept checker flags is withheld only if the classifier agrees."""
    checker = load(monkeypatch, model_dirs["checker"], model_dirs["lenient classifier"])
    assert checker.concepts.flagged([solid(RED)]) == [True]
    assert checker.classifier.flagged([solid(RED)]) == [False]
    assert checker.flagged([solid(RED), solid(BLUE)]) == [False, False]


def test_flagged_images_are_withheld_and_the_rest_returned(checker):
    images = [solid(BLUE), solid(RED), solid(BLUE, (32, 32))]
    assert withhold_flagged(images, checker) == [images[0], images[2]]
    assert withhold_flagged(images, None) == images  # disable_safety_checker
    paths = ["out-0.webp", "out-1.webp", "out-2.webp"]
    assert withhold_flagged(paths, checker, pil_images=images) == ["out-0.webp", "out-2.webp"]


def test_a_prediction_whose_every_image_is_flagged_fails_with_a_clear_message(checker):
    with pytest.raises(AllImagesFlaggedError, match=re.escape("flagged every generated image (2 of 2)")):
        withhold_flagged([solid(RED), solid(RED)], checker)


def test_real_models_are_pinned_to_commits():
    for source in (SAFETY_CHECKER, NSFW_CLASSIFIER):
        assert re.fullmatch(r"[0-9a-f]{40}", source.revision), source
        assert not source.gated
