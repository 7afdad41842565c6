"""The GPU check's dry run: every stage on the CPU with the tiny models (`make gpu-check DEVICE=cpu`), so the
harness a GPU session runs in one go can't rot between GPU loans. Also the wheel set's rewriting and pins."""

import json
import zipfile

import pytest

from scripts.gpu import check, wheels
from scripts.gpu.stages import STAGES


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory, tiny_smollm3, tiny_gemma3, tiny_phi4, tiny_flux, tiny_loras, tiny_safety_checkers):
    work = tmp_path_factory.mktemp("gpu-check-work")
    (work / "tiny").mkdir()
    checkers = tiny_safety_checkers["red"]
    links = {"smollm3": tiny_smollm3, "gemma3": tiny_gemma3, "phi4-reasoning": tiny_phi4, "flux": tiny_flux,
             "flux-loras": tiny_loras["custom"].parent, "safety-checker": checkers["SAFETY_CHECKER_MODEL_DIR"],
             "nsfw-classifier": checkers["NSFW_CLASSIFIER_MODEL_DIR"]}
    for name, target in links.items():
        (work / "tiny" / name).symlink_to(target)
    out = tmp_path_factory.mktemp("gpu-check-out")
    common = ["--device", "cpu", "--out", str(out), "--work", str(work)]
    with pytest.MonkeyPatch.context() as patch:  # the check's process settings stay out of the other tests
        for name, value in {"HF_HUB_OFFLINE": "1", "PRUNA_METRICS_ENABLED": "false", "TOKENIZERS_PARALLELISM": "false",
                            "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TQDM_DISABLE": "1"}.items():
            patch.setenv(name, value)
        # One stage in its own process, as every stage runs on CUDA; then all, which must skip that one.
        isolated = check.main(["--stage", "speed-phi4", "--isolate", *common])
        phi4_written = (out / "speed-phi4.json").stat().st_mtime_ns
        everything = check.main(["--stage", "all", *common])
        over_budget = check.main(["--stage", "speed-smollm3", "--force", "--budget-s", "1", *common])
    return {"out": out, "codes": (isolated, everything, over_budget), "phi4_written": phi4_written}


def stage(dry_run, name: str) -> dict:
    return json.loads((dry_run["out"] / f"{name}.json").read_text())


def test_every_stage_the_cpu_can_run_completes_without_errors(dry_run):
    assert dry_run["codes"][:2] == (0, 0)
    for name in (s.name for s in STAGES if s.writes_json and not s.cuda_only):
        result = stage(dry_run, name)
        assert result["complete"], name
        assert result["errors"] == [], (name, result["errors"])


def test_finished_stages_are_skipped_and_the_budget_is_kept(dry_run):
    assert (dry_run["out"] / "speed-phi4.json").stat().st_mtime_ns == dry_run["phi4_written"]
    assert dry_run["codes"][2] == 3, "a stage over the budget is not started and the exit code says so"
    assert stage(dry_run, "speed-smollm3")["complete"]


def test_every_deployment_answers_through_the_cog_server(dry_run):
    rows = stage(dry_run, "functional-flux")["rows"] + stage(dry_run, "functional-text")["rows"]
    assert {r["deployment"] for r in rows} == {"flux-dev-txt2img", "flux-dev-img2img", "smollm3", "gemma3",
                                               "phi4-reasoning"}
    for row in rows:
        assert row["passed"], (row["scenario"], row.get("checks"), row.get("error"), row.get("log_tail"))
    swaps = next(r for r in rows if r["scenario"].startswith("txt2img"))
    assert [p["metrics"]["recompiles"] for p in swaps["predictions"]] == [0] * 6
    assert any("FLUX transformer: int8" in line for line in swaps["path"])


def test_each_model_is_measured_against_both_controls(dry_run):
    for name in ("speed-smollm3", "speed-gemma3", "speed-phi4"):
        rows = stage(dry_run, name)["rows"]
        variants = [r["variant"] for r in rows]
        assert variants[:2] == ["bf16 eager", "bf16 + compiled decode"] and len(variants) == 3, variants
        for row in rows:
            spread = row["decode_tokens_per_s"]
            assert 0 < spread["min"] <= spread["median"] <= spread["max"]
        eager, _, optimized = rows
        assert optimized["role"] == "optimized" and optimized["weight_mb"] < eager["weight_mb"]
        assert rows[1]["cache_tokens"] == rows[2]["cache_tokens"] or name == "speed-phi4"


def test_flux_engines_swap_loras_without_recompiling(dry_run):
    rows = [row for name in ("speed-flux-eager", "speed-flux-compiled", "speed-flux-int8")
            for row in stage(dry_run, name)["rows"]]
    assert [r["variant"] for r in rows] == ["bf16 eager", "bf16 + compile", "int8 + compile + LoRA live"]
    engine = rows[-1]
    assert engine["lora_live"] and engine["swap_s"]["runs"] >= 2 and engine["recompiles"] == 0


def test_report_puts_the_targets_next_to_the_measurements(dry_run):
    report = (dry_run["out"] / "benchmarks-gpu.md").read_text()
    assert "| SmolLM3 HQQ 4-bit decode | >= 1.5x bf16 compiled |" in report
    assert "| Phi-4 4-bit, transformers+bitsandbytes-nf4 + compiled decode: peak VRAM | <= 12 GB |" in report
    assert "| FLUX engine int8, LoRA live, s/image | <= 0.45x bf16 eager |" in report
    assert "`speed-flux-fp8`: not run yet" in report  # CUDA-only stages are named as missing


def test_slimming_a_wheel_keeps_its_record_exact(tmp_path):
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    files = {"demo/__init__.py": b"x = 1\n", "demo/libdemo_cuda118.so": b"\0" * 1000,
             "demo/libdemo_cuda130.so": b"\1" * 10}
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("demo-1.0.dist-info/RECORD", b"".join(wheels.record_line(n, d) + b"\n"
                                                               for n, d in files.items()))
    wheels.rewrite_wheel(wheel, lambda name: name.endswith("_cuda118.so"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        record = archive.read("demo-1.0.dist-info/RECORD").decode().splitlines()
        assert names == {"demo/__init__.py", "demo/libdemo_cuda130.so", "demo-1.0.dist-info/RECORD"}
        assert sorted(line.split(",")[0] for line in record) == sorted(names)
        for line in record:
            name, digest, size = line.split(",")
            if name.endswith("RECORD"):
                assert digest == size == ""
            else:
                assert line.encode() == wheels.record_line(name, archive.read(name))


def test_every_carried_wheel_has_the_repos_pinned_version():
    specs = wheels.requirements()
    assert len(specs) == len(wheels.CARRIED)
    dev_pins = (wheels.REPO / "requirements" / "dev.txt").read_text().split()
    for name in ("transformers", "hqq", "pruna", "diffusers", "torchao", "bitsandbytes", "peft", "cog"):
        assert next(s for s in specs if s.startswith(f"{name}==")) in dev_pins
    assert any(spec.startswith("unsloth==") for spec in specs)
