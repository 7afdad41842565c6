"""README "Adding a deployment", walked through on a sixth, throwaway deployment: a folder, one declaration, its
schema, Cog's static rules, and a server test on a tiny model. If a step of the guide stops working, this fails."""

import json
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from scripts.cog_schema import analyze_deployment
from scripts.harness.cog_server import CogServer
from tests.cog_client import output_text

REPO = Path(__file__).resolve().parents[1]

# Step 2 of the guide: the declaration and a thin predictor. The defaults of TextModel: bf16, no optimization.
PREDICT = '''
"""A tiny chat model: the README's "Adding a deployment", step 2."""

from cog import AsyncConcatenateIterator, BaseRunner, Input, concurrent, streaming

from shared.common.model_source import ModelSource
from shared.text.service import TextModel, TextRequest, TextService
from shared.text.settings import TextSettings

MODEL = TextModel(
    name="tiny-chat",
    source=ModelSource(repo_id="example/tiny-chat", revision="0" * 40, local_dir_env="TINY_CHAT_MODEL_DIR"),
    defaults=TextSettings(max_context=1024, compile=False),
)
WEIGHTS = (MODEL.source,)


class Predictor(BaseRunner):
    def setup(self) -> None:
        self.service = TextService.start(MODEL)

    @concurrent(max=4)
    @streaming
    async def run(
        self,
        prompt: str = Input(description="Text prompt for the model.", min_length=1, max_length=16384),
        max_new_tokens: int = Input(description="Maximum number of tokens to generate (1-64).", default=8, ge=1, le=64),
        temperature: float = Input(description="Sampling temperature (0-2).", default=0.0, ge=0.0, le=2.0),
        seed: int | None = Input(description="Random seed.", default=None, ge=0, le=2147483647),
    ) -> AsyncConcatenateIterator[str]:
        request = TextRequest(prompt=prompt, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
        async for piece in self.service.stream(request, self.record_metric):
            yield piece
'''


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("deployments") / "tiny-chat"
    folder.mkdir()
    for name in ("requirements.txt", ".dockerignore"):  # step 1
        shutil.copy(REPO / "deployments" / "smollm3" / name, folder / name)
    # cog.yaml's environment holds SmolLM3's text settings (the server applies them): this model has its own.
    smollm3_settings = ("MAX_CONTEXT_TOKENS", "CACHE_BUCKETS", "QUANTIZE", "HQQ_FAST_KERNEL", "COMPILE")
    cog_yaml = (REPO / "deployments" / "smollm3" / "cog.yaml").read_text().splitlines(keepends=True)
    kept = [line for line in cog_yaml if not line.strip("- ").startswith(smollm3_settings)]
    (folder / "cog.yaml").write_text("".join(kept))
    (folder / "predict.py").write_text(textwrap.dedent(PREDICT))
    # Step 4: `make schema-<name>` is this command.
    subprocess.run([sys.executable, "-m", "scripts.openapi_schema", str(folder), "--write"], cwd=REPO, check=True)
    return folder


def test_the_new_predictor_passes_cogs_static_schema_rules(deployment):
    result = analyze_deployment(deployment)
    assert [f.message for f in result.errors] == []
    committed = json.loads((deployment / "openapi.json").read_text())
    inputs = committed["components"]["schemas"]["Input"]["properties"]
    assert list(inputs) == ["prompt", "max_new_tokens", "temperature", "seed"]
    assert inputs["prompt"]["maxLength"] == 16384


def test_the_new_deployment_answers_through_the_real_cog_server(deployment, tiny_smollm3):
    """Step 5: the tiny model (here the tiny SmolLM3's files, loaded by TextModel's default loader)."""
    env = {"TINY_CHAT_MODEL_DIR": str(tiny_smollm3), "DEVICE": "cpu"}
    with CogServer(deployment, env) as server:
        first = server.predict(prompt="Say something.", max_new_tokens=6, temperature=0)
        assert first["status"] == "succeeded", first
        assert isinstance(output_text(first), str) and 1 <= first["metrics"]["output_token_count"] <= 6
        again = server.predict(prompt="Say something.", max_new_tokens=6, temperature=0)
        assert output_text(again) == output_text(first)
        # @concurrent(max=4): two at once, the second batched with the first.
        with ThreadPoolExecutor(2) as pool:
            both = list(pool.map(lambda _: server.predict(prompt="Say something.", max_new_tokens=6, temperature=0),
                                 range(2)))
        assert [output_text(answer) for answer in both] == [output_text(first)] * 2
        refused = server.predict(prompt="   ", max_new_tokens=6)
        assert refused["status"] == "failed" and "prompt: must contain text" in refused["error"], refused
        assert server.predict(prompt="Still there?", max_new_tokens=2)["status"] == "succeeded"
        assert "loading example/tiny-chat from local directory" in server.log_tail(10**6)
