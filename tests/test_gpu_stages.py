"""The GPU check's plan for one 15-minute loan, its checkpoint sizes and disk check, and collecting results."""

import json

import pytest
import torch

from scripts.benchmarks import real_size
from scripts.gpu import collect, speed
from scripts.gpu.results import StageRecorder
from scripts.gpu.stages import BY_NAME, CHECKPOINTS, LOAN, LOAN_CALL, RETURNED_FILES, STAGES
from scripts.gpu.workdir import NotEnoughDisk, Workdir, checkpoint_ready


def test_a_loan_runs_env_then_every_deployments_functional_check_then_flux_fp8_speed():
    order = list(LOAN.stages)
    functional = [s for s in order if s.startswith("functional-")]
    assert order[:4] == ["env", "functional-flux", "functional-text", "functional-phi4"]
    assert order.index("speed-flux-fp8") == len(functional) + 1, "the first speed stage"
    assert "report" not in order, "rendered here from what comes back"
    # The decisive stages fit one loan's budget by their estimates, with the call's time-out above it.
    essential = ["env", "functional-flux", "functional-text", "functional-phi4"]
    assert sum(BY_NAME[s].estimate_s for s in essential) <= LOAN.budget_s < LOAN_CALL["timeout_s"] <= 600
    assert LOAN.max_stage_files + 1 == RETURNED_FILES, "check.log comes back beside the stage JSON"


def test_a_stage_counts_its_checkpoint_only_until_it_is_on_the_machine(tmp_path):
    fp8 = BY_NAME["speed-flux-fp8"]
    assert fp8.estimate(tmp_path) == fp8.estimate_s + CHECKPOINTS["flux-dev"].make_s
    (tmp_path / "checkpoints" / "flux-dev").mkdir(parents=True)
    (tmp_path / "checkpoints" / "flux-dev" / ".complete").touch()
    assert checkpoint_ready(tmp_path, "flux-dev") and fp8.estimate(tmp_path) == fp8.estimate_s
    assert {s.checkpoint for s in STAGES if s.checkpoint} == set(CHECKPOINTS)


def parameters(factory) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in factory().parameters())


def test_checkpoint_sizes_are_the_real_architectures_in_bf16():
    flux = 2 * (parameters(real_size.flux_dev_transformer) + parameters(real_size.t5_xxl_encoder))
    # CLIP-L's text model and the VAE add ~0.4 GB to the two big ones.
    assert flux < CHECKPOINTS["flux-dev"].size_bytes < flux + 0.6e9
    phi4 = 2 * parameters(real_size.phi4_14b)
    assert phi4 <= CHECKPOINTS["phi4-reasoning"].size_bytes < phi4 * 1.01
    assert speed.checkpoint_bytes("flux-dev") == CHECKPOINTS["flux-dev"].size_bytes


def test_a_checkpoint_the_disk_cant_hold_stops_before_a_byte_is_written(tmp_path):
    work = Workdir(tmp_path)
    older = tmp_path / "checkpoints" / "phi4-reasoning"
    older.mkdir(parents=True)
    (older / "model.safetensors").write_bytes(b"\0" * 1000)
    saved = []
    with pytest.raises(NotEnoughDisk, match=r"checkpoint 'flux-dev' needs 1000000\.0 GB"):
        work.checkpoint("flux-dev", saved.append, size_bytes=10**15)
    assert saved == [] and not older.exists(), "the other checkpoint went first, to free its space"
    assert not checkpoint_ready(tmp_path, "flux-dev")
    assert work.checkpoint("flux-dev", lambda path: (path / "x").write_text("ok"), size_bytes=1).exists()
    # As the stage's JSON names it:
    recorder = StageRecorder(tmp_path / "out", "speed-flux-fp8", "cuda")
    try:
        work.checkpoint("phi4-reasoning", saved.append, size_bytes=10**15)
    except NotEnoughDisk as error:
        recorder.error("stage", error)
    written = json.loads((tmp_path / "out" / "speed-flux-fp8.json").read_text())
    assert written["errors"][0]["error"].startswith("NotEnoughDisk: checkpoint 'phi4-reasoning' needs")


def stage_json(folder, stage, device="cuda", complete=True, rows=1):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stage}.json").write_text(json.dumps({"stage": stage, "device": device, "complete": complete,
                                                      "rows": [{}] * rows, "errors": []}))


def test_collecting_a_loan_keeps_complete_cuda_results(tmp_path):
    results, back = tmp_path / "docs-gpu", tmp_path / "files_at"
    stage_json(results, "functional-flux", rows=2)
    stage_json(back, "functional-flux", complete=False)  # can't replace the complete one
    stage_json(back, "functional-text", complete=False)  # runs again next loan, but keeps its rows meanwhile
    stage_json(back, "env")
    stage_json(back, "speed-smollm3", device="cpu")  # a dry run's: never counts as GPU evidence
    (back / "check.log").write_text("loan: 2026-12-02T10:11:12Z on gpu, device cuda\n...")
    lines = collect.collect(back, results)
    assert len(lines) == 5
    kept = {p.name: json.loads(p.read_text()) for p in results.glob("*.json")}
    assert sorted(kept) == ["env.json", "functional-flux.json", "functional-text.json"]
    assert len(kept["functional-flux.json"]["rows"]) == 2 and not kept["functional-text.json"]["complete"]
    assert (results / "logs" / "2026-12-02T101112Z.log").exists()
