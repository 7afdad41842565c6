"""The GPU check's dry run: the exact call one GPU loan makes (`bash scripts/gpu/loan.sh`, docs/gpu-check.md), on
the CPU with the tiny models, twice: a first loan, then the next one continuing from its JSON, as docs/gpu/
carries it from loan to loan. So the harness a loan runs in one go can't rot between loans. Also the wheel
set's rewriting and pins."""

import json
import zipfile

import pytest

from scripts.gpu import wheels
from scripts.gpu.stages import LOAN, LOAN_CALL, RETURNED_FILES, STAGES

REPO = wheels.REPO
CPU_STAGES = [s.name for s in STAGES if s.writes_json and not s.cuda_only]


@pytest.fixture(scope="module")
def dry_run(gpu_check_dry_run):
    """Two loans, the report, a stage over the budget: tests/conftest.py (the CPU benchmark's test reads it too)."""
    return gpu_check_dry_run


def stage(dry_run, name: str) -> dict:
    for folder in dry_run["loans"]:
        if (folder / f"{name}.json").exists():
            return json.loads((folder / f"{name}.json").read_text())
    raise AssertionError(f"no loan ran {name}")


def test_a_loan_returns_its_log_and_the_first_stages_in_priority_order_within_the_files_out_brings_back(dry_run):
    first, _ = dry_run["loans"]
    assert dry_run["codes"][0] == 3, "stages left for the next loan"
    returned = sorted(p.name for p in first.iterdir())
    assert len(returned) <= RETURNED_FILES and "check.log" in returned
    assert returned == sorted(["check.log", *(f"{name}.json" for name in CPU_STAGES[:LOAN.max_stage_files])])
    log = (first / "check.log").read_text()
    assert log.startswith("loan: ") and "left for the next loan: " in log
    assert log.index("== env (at ") < log.index("== functional-flux (at ") < log.index("== functional-phi4 (at ")
    assert log.count("== env (at ") == 1, "stage processes leave the headers and the summary to the driver"


def test_the_next_loan_continues_where_the_first_stopped(dry_run):
    _, second = dry_run["loans"]
    assert dry_run["codes"][1] == 0, "every stage the CPU can run is done after two loans"
    ran = sorted(p.stem for p in second.glob("*.json"))
    assert ran == sorted(CPU_STAGES[LOAN.max_stage_files:]), "loan 1's stages were skipped, not rerun"


def test_every_stage_the_cpu_can_run_completes_without_errors(dry_run):
    for name in CPU_STAGES:
        result = stage(dry_run, name)
        assert result["complete"] and result["device"] == "cpu", name
        assert result["errors"] == [], (name, result["errors"])
    assert dry_run["codes"][2] == 3, "a stage over the budget is not started and the exit code says so"


def test_every_deployment_answers_through_the_cog_server(dry_run):
    rows = [r for name in CPU_STAGES if name.startswith("functional-") for r in stage(dry_run, name)["rows"]]
    assert {r["deployment"] for r in rows} == {"flux-dev-txt2img", "flux-dev-img2img", "smollm3", "gemma3",
                                               "phi4-reasoning"}
    for row in rows:
        assert row["passed"], (row["scenario"], row.get("checks"), row.get("error"), row.get("log_tail"))
    swaps = next(r for r in rows if r["scenario"].startswith("txt2img"))
    assert [p["metrics"]["recompiles"] for p in swaps["predictions"]] == [0] * 6
    assert any("FLUX transformer: int8" in line for line in swaps["path"])


def test_the_phi4_stages_run_with_the_phi4_package_set_first_on_their_path(dry_run):
    for name in ("functional-phi4", "speed-phi4"):
        packages = stage(dry_run, name)["info"]["packages"]
        assert packages["site"] == str(dry_run["phi4_site"]) and packages["site_on_path"], name
    env = stage(dry_run, "env")["info"]
    assert env["phi4_packages"]["site_on_path"] and env["unsloth"] == "not used: no CUDA device"


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


def test_report_from_both_loans_puts_the_targets_next_to_the_measurements(dry_run):
    report = dry_run["report"].read_text()
    assert "| SmolLM3 HQQ 4-bit decode | >= 1.5x bf16 compiled |" in report
    assert "| Phi-4 4-bit, transformers+bitsandbytes-nf4 + compiled decode: peak VRAM | <= 12 GB |" in report
    assert "| FLUX engine int8, LoRA live, s/image | <= 0.45x bf16 eager |" in report
    assert "`speed-flux-fp8`: not run yet" in report  # CUDA-only stages are named as missing
    assert "| phi4 via transformers | yes |" in report


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
    dev_pins = (REPO / "requirements" / "dev.txt").read_text().split()
    for name in ("transformers", "hqq", "pruna", "diffusers", "torchao", "bitsandbytes", "peft", "cog"):
        assert next(s for s in specs if s.startswith(f"{name}==")) in dev_pins
    assert any(spec.startswith("unsloth==") for spec in
               (f"{name}=={version}" for name, version in wheels.phi4_set().items()))


def test_the_docs_spell_out_the_call_the_dry_run_makes():
    doc = (REPO / "docs" / "gpu-check.md").read_text()
    call = (f'run(command="{LOAN_CALL["command"]}", carry={json.dumps(LOAN_CALL["carry"])}, '
            f'timeout_s={LOAN_CALL["timeout_s"]})')
    assert call in doc
