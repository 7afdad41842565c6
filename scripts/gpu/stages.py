"""The GPU check's stages, in the order `all` runs them, with what each takes on an H200 (cold caches, a fresh
machine; estimates from the model sizes until a run replaces them). No heavy imports here: the driver reads
this before deciding what to run.

The order is the targets' priority and packs into 10-minute calls with `--budget-s 540`: env + both functional
stages; the FLUX checkpoint with its eager control and the FP8 engine (one call, so the checkpoint is made
once); SmolLM3; Gemma-3; Phi-4; then the other controls and variants."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    name: str
    target: str  # "module:function" taking a StageContext
    estimate_s: int  # on an H200, for --budget-s
    summary: str
    cuda_only: bool = False
    writes_json: bool = True
    env: tuple[tuple[str, str], ...] = ()  # set before the stage's modules are imported


STAGES = (
    Stage("env", "scripts.gpu.env:run", 60,
          "GPU, driver, torch and library versions; imports; HQQ's kernel path on a tiny model; Unsloth import"),
    Stage("functional-flux", "scripts.gpu.functional:flux", 200,
          "FLUX text-to-image (fp8, nf4) and image-to-image through the Cog server: styles and LoRAs hot-swapped "
          "in both slots, recompiles = 0"),
    Stage("functional-text", "scripts.gpu.functional:text", 260,
          "SmolLM3 (HQQ), Gemma-3 (INT8, with an image), Phi-4 via Unsloth and via transformers, through the Cog "
          "server"),
    Stage("speed-flux-eager", "scripts.gpu.speed:flux_eager", 240,
          "FLUX.1-dev checkpoint (~34 GB, kept for the next FLUX stages); plain bf16 pipeline, eager"),
    Stage("speed-flux-fp8", "scripts.gpu.speed:flux_fp8", 280,
          "the FLUX engine, fp8 transformer + compile + LoRA live: s/image, swap time, recompiles", cuda_only=True),
    Stage("speed-smollm3", "scripts.gpu.speed:smollm3", 360,
          "SmolLM3-3B decode tokens/s at each context: bf16 eager, bf16 + compiled decode, HQQ 4-bit + compiled"),
    Stage("speed-gemma3", "scripts.gpu.speed:gemma3", 330,
          "Gemma-3-4B decode tokens/s: bf16 eager, bf16 + compiled decode, INT8 + compiled decode"),
    Stage("speed-phi4", "scripts.gpu.speed_phi4:run", 480,
          "Phi-4 14B decode tokens/s and peak VRAM: bf16 eager, bf16 + compiled decode, 4-bit as deployed "
          "(Unsloth where it imports)"),
    Stage("speed-flux-compiled", "scripts.gpu.speed:flux_compiled", 300,
          "plain bf16 FLUX pipeline with its transformer compiled (the control for compilation)"),
    Stage("speed-flux-nf4", "scripts.gpu.speed:flux_nf4", 300,
          "the FLUX engine, NF4 transformer + compile + LoRA live", cuda_only=True),
    Stage("speed-phi4-nf4", "scripts.gpu.speed_phi4:fallback", 300,
          "Phi-4 14B 4-bit through the deployment's fallback (transformers + bitsandbytes NF4, USE_UNSLOTH=0)",
          cuda_only=True, env=(("USE_UNSLOTH", "0"),)),
    Stage("speed-flux-int8", "scripts.gpu.speed:flux_int8", 280,
          "the FLUX engine, INT8 weight-only transformer + compile + LoRA live"),
    Stage("speed-flux-bf16", "scripts.gpu.speed:flux_bf16", 280,
          "the FLUX engine, bf16 transformer + compile + LoRA live (the slots' cost without quantization)"),
    Stage("report", "scripts.gpu.report:run", 5,
          "renders docs/benchmarks-gpu.md from every stage's JSON found", writes_json=False),
)
BY_NAME = {stage.name: stage for stage in STAGES}
GROUPS = {
    "all": [s.name for s in STAGES],
    "functional": [s.name for s in STAGES if s.name.startswith("functional-")],
    "speed": [s.name for s in STAGES if s.name.startswith("speed-")],
    "flux": [s.name for s in STAGES if s.name.startswith("speed-flux-")],
}


def select(spec: str) -> list[Stage]:
    """Stages named by a comma-separated list of stage and group names, in run order."""
    wanted = set()
    for name in (part.strip() for part in spec.split(",") if part.strip()):
        if name in GROUPS:
            wanted.update(GROUPS[name])
        elif name in BY_NAME:
            wanted.add(name)
        else:
            allowed = ", ".join([*GROUPS, *BY_NAME])
            raise ValueError(f"--stage: unknown stage {name!r} (one of: {allowed})")
    return [stage for stage in STAGES if stage.name in wanted]
