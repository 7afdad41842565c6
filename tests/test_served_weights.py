"""Quantize once: `make weights-<name>` saves the served model (SmolLM3 HQQ 4-bit, Gemma-3 INT8 + pruning) and
setup loads it instead of quantizing, with the same outputs as a fresh quantization; a save made differently,
by other library versions, from other weights, or corrupt, is not used, and setup says why."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from scripts.harness.cog_server import CogServer
from scripts.harness.deployment_predictor import predictor_module
from scripts.registry import TinyModel
from shared.common.setup_stages import SetupStages
from shared.optim.hqq_kernels import TINYGEMM, layer_kernels
from shared.optim.served_weights import RECIPE_FILE, WEIGHTS_FILE, ServedWeights, recipe
from shared.text.service import load_served, save_served
from shared.text.settings import TextSettings
from tests.conftest import REPO

CPU = torch.device("cpu")
SMOLLM3 = predictor_module("smollm3").MODEL
GEMMA3 = predictor_module("gemma3").MODEL
PRUNED = {"PRUNE_METHOD": "magnitude", "PRUNE_SPARSITY": "0.3"}


def settings_for(model, environ: dict) -> TextSettings:
    return TextSettings.from_env(environ, model.defaults)


def boot(model, weights: Path, folder: Path, environ: dict | None = None):
    """What setup does with the weights: (served model, tokenizer, stage names)."""
    stages = SetupStages(model.name)
    loaded, tokenizer, _ = load_served(model, weights, CPU, settings_for(model, environ or {}), folder, stages)
    return loaded, tokenizer, set(stages.seconds)


def logits(model, tokenizer, text: str = "The weights saved once") -> torch.Tensor:
    tokenizer = getattr(tokenizer, "tokenizer", tokenizer)  # Gemma's processor holds its tokenizer
    with torch.no_grad():
        return model(input_ids=tokenizer(text, return_tensors="pt").input_ids).logits


@pytest.fixture(scope="module")
def smollm3_saved(tiny_smollm3, tmp_path_factory) -> Path:
    """The tiny SmolLM3's served model, saved by the command `make weights-smollm3` runs after the download."""
    weights_dir = tmp_path_factory.mktemp("weights")
    env = {**os.environ, "SMOLLM3_MODEL_DIR": str(tiny_smollm3), "WEIGHTS_DIR": str(weights_dir), "DEVICE": "cpu",
           "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "scripts.save_served", "smollm3"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "smollm3: served model saved in" in done.stdout
    return weights_dir / "served"


def test_make_weights_saves_the_model_with_what_made_it(smollm3_saved, tiny_smollm3):
    record = json.loads((smollm3_saved / "smollm3" / RECIPE_FILE).read_text())
    # cog.yaml's QUANTIZE=hqq4 is what the image runs with, so what is saved.
    assert record["recipe"] == recipe("smollm3", tiny_smollm3, {"quantize": "hqq4", "bits": 4, "group_size": 64})
    assert record["recipe"]["libraries"]["hqq"] and record["recipe"]["libraries"]["torch"] == torch.__version__
    assert record["bytes"] == (smollm3_saved / "smollm3" / WEIGHTS_FILE).stat().st_size
    assert not list(smollm3_saved.glob("*.partial-*"))


def test_setup_loads_the_saved_hqq_model_and_answers_as_a_fresh_quantization(smollm3_saved, tiny_smollm3, caplog,
                                                                            tmp_path):
    with caplog.at_level(logging.INFO):
        saved, tokenizer, stages = boot(SMOLLM3, tiny_smollm3, smollm3_saved)
    assert "served weights: loaded the saved smollm3 model" in caplog.text
    assert "optimize" not in stages and {"load", "on device"} <= stages
    # The int4 kernel's packing is made at this boot, on this device, from the saved HQQ layers.
    assert set(layer_kernels(saved).values()) == {TINYGEMM} and len(layer_kernels(saved)) == 14
    assert saved.lm_head.weight is saved.model.embed_tokens.weight  # still tied: one copy of the embedding
    assert not any(p.device.type == "meta" for p in saved.parameters())

    fresh, _, fresh_stages = boot(SMOLLM3, tiny_smollm3, tmp_path / "nothing-saved")
    assert "optimize" in fresh_stages
    assert torch.equal(logits(saved, tokenizer), logits(fresh, tokenizer))


def test_a_saved_model_made_differently_is_not_used_and_setup_says_why(smollm3_saved, tiny_smollm3, tmp_path,
                                                                       caplog):
    other_versions = tmp_path / "other-versions"
    (other_versions / "smollm3").mkdir(parents=True)
    for file in (WEIGHTS_FILE, RECIPE_FILE):
        (other_versions / "smollm3" / file).write_bytes((smollm3_saved / "smollm3" / file).read_bytes())
    record = json.loads((other_versions / "smollm3" / RECIPE_FILE).read_text())
    record["recipe"]["libraries"]["hqq"] = "0.2.8"
    (other_versions / "smollm3" / RECIPE_FILE).write_text(json.dumps(record))
    with caplog.at_level(logging.INFO):
        _, _, stages = boot(SMOLLM3, tiny_smollm3, other_versions)
    assert "optimize" in stages
    assert "was made differently: libraries" in caplog.text and '"hqq": "0.2.8"' in caplog.text


def test_a_saved_model_of_other_weights_is_not_used(smollm3_saved, tmp_path, caplog):
    # The same architecture and sizes, other values (another seed): the source fingerprint differs.
    other_weights = tmp_path / "other-tiny"
    TinyModel("smollm3", "build_tiny_smollm3").build(other_weights)
    weights_file = next(other_weights.glob("*.safetensors"))
    data = bytearray(weights_file.read_bytes())
    data[-1] ^= 0x01  # the last byte of the last tensor
    weights_file.write_bytes(bytes(data))
    with caplog.at_level(logging.INFO):
        _, _, stages = boot(SMOLLM3, other_weights, smollm3_saved)
    assert "optimize" in stages and "was made differently: source" in caplog.text


def test_a_corrupt_save_is_not_used(smollm3_saved, tiny_smollm3, tmp_path, caplog):
    corrupt = tmp_path / "corrupt"
    (corrupt / "smollm3").mkdir(parents=True)
    data = bytearray((smollm3_saved / "smollm3" / WEIGHTS_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    (corrupt / "smollm3" / WEIGHTS_FILE).write_bytes(bytes(data))
    (corrupt / "smollm3" / RECIPE_FILE).write_bytes((smollm3_saved / "smollm3" / RECIPE_FILE).read_bytes())
    with caplog.at_level(logging.WARNING):
        _, _, stages = boot(SMOLLM3, tiny_smollm3, corrupt)
    assert "optimize" in stages
    assert "is not the file its recipe records" in caplog.text


def test_an_interrupted_save_leaves_nothing_to_load(tmp_path):
    class Unsaveable(torch.nn.Linear):
        def state_dict(self, *args, **kwargs):
            raise KeyboardInterrupt  # the build host's Ctrl-C halfway through

    saved = ServedWeights(tmp_path / "served" / "smollm3")
    with pytest.raises(KeyboardInterrupt):
        saved.save(Unsaveable(2, 2), {"format": 1})
    assert not saved.exists() and list((tmp_path / "served").iterdir()) == []
    assert saved.mismatch({"format": 1}).startswith("no saved served model")


def test_gemma_int8_and_pruning_saved_once_answers_as_fresh(tiny_gemma3, tmp_path, caplog):
    environ = {"GEMMA3_MODEL_DIR": str(tiny_gemma3), "WEIGHTS_DIR": str(tmp_path), "DEVICE": "cpu", **PRUNED}
    folder = save_served(GEMMA3, environ)
    assert folder == tmp_path / "served" / "gemma3"
    with caplog.at_level(logging.INFO):
        saved, processor, stages = boot(GEMMA3, tiny_gemma3, tmp_path / "served", PRUNED)
    assert "served weights: loaded the saved gemma3 model" in caplog.text and "optimize" not in stages
    weight = saved.model.language_model.layers[0].mlp.up_proj.weight
    assert type(weight).__name__ == "Int8Tensor"
    fresh, _, _ = boot(GEMMA3, tiny_gemma3, tmp_path / "nothing-saved", PRUNED)
    assert torch.equal(logits(saved, processor), logits(fresh, processor))

    # Another sparsity is another served model: this save is not used for it.
    caplog.clear()
    with caplog.at_level(logging.INFO):
        _, _, stages = boot(GEMMA3, tiny_gemma3, tmp_path / "served", {**PRUNED, "PRUNE_SPARSITY": "0.5"})
    assert "optimize" in stages and "was made differently: variant" in caplog.text


def test_phi4_saves_nothing_its_checkpoint_is_already_4_bit(tiny_phi4, tmp_path):
    phi4 = predictor_module("phi4-reasoning").MODEL
    assert save_served(phi4, {"PHI4_MODEL_DIR": str(tiny_phi4), "WEIGHTS_DIR": str(tmp_path), "DEVICE": "cpu"}) is None
    assert not (tmp_path / "served").exists()


def test_the_server_boots_on_the_saved_model(smollm3_saved, tiny_smollm3):
    """Through the real Cog server, as the image runs: the setup log names the saved model, the stage report has
    no quantization, and requests are answered."""
    env = {"SMOLLM3_MODEL_DIR": str(tiny_smollm3), "WEIGHTS_DIR": str(smollm3_saved.parent), "DEVICE": "cpu",
           "MAX_CONTEXT_TOKENS": "256", "CACHE_BUCKETS": "64", "COG_MAX_CONCURRENCY": "1"}
    with CogServer("smollm3", env) as server:
        log = server.log_tail(200_000)
        assert "served weights: loaded the saved smollm3 model" in log
        assert "setup stages: " in log and "optimize" not in log.split("setup stages: ")[1].splitlines()[0]
        done = server.predict(prompt="Hello", mode="no_think", max_new_tokens=8, temperature=0)
        assert done["status"] == "succeeded" and isinstance(done["output"], list)
