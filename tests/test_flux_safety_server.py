"""The safety checker through the real Cog server: a tiny checker wired to flag every image stands in for an
NSFW result (the deployments' own tiny checker flags red images, which tiny FLUX never paints)."""

import pytest

from scripts.harness.cog_server import CogServer
from tests.flux_helpers import output_files

SMALL = dict(aspect_ratio="custom", width=64, height=64, num_inference_steps=2, output_format="png")


@pytest.fixture(scope="module")
def flagging_server(flux_env, tiny_safety_checkers):
    env = {**flux_env, **tiny_safety_checkers["any"], "COMPILE": "0"}
    with CogServer("flux-dev-txt2img", env) as cog:
        yield cog


def test_flagged_images_are_withheld_and_all_flagged_fails_clearly(flagging_server):
    result = flagging_server.predict(prompt="a lighthouse", num_outputs=2, seed=1, **SMALL)
    assert result["status"] == "failed"
    assert "the safety checker flagged every generated image (2 of 2)" in result["error"]
    assert "safety checker: 2 of 2 images flagged" in flagging_server.log_tail(10**6)


def test_disable_safety_checker_returns_every_image(flagging_server):
    result = flagging_server.predict(prompt="a lighthouse", num_outputs=2, seed=1, disable_safety_checker=True, **SMALL)
    assert len(output_files(result)) == 2

