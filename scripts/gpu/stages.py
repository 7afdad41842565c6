"""The GPU check's stages in priority order, what each takes on an H200, and the plan one loan runs.

A loan is 15 minutes of device time, machine start (1-3 min) included, at most 10 minutes per command: one call
(docs/gpu-check.md). The order puts the most decisive evidence first: `env`, then the functional checks of every
deployment through the Cog server, then the FLUX fp8 speed stage, then the other measurements. No heavy imports
here: the driver reads this before deciding what to run.

Estimates (seconds on the H200 machine: 16 cores, fresh, cold inductor cache; to be replaced by the stages'
`elapsed_s` once a loan has run them), from what each stage does:
- a process that imports torch + transformers (+ diffusers): ~5-10 s; each Cog server start adds the same for
  coglet's worker, plus ~4 s for the server schema the first time a deployment is served;
- tiny models are built on the machine on first use: ~10-15 s for a FLUX set with its LoRAs and safety models;
- compiling a tiny model cold (dynamo + inductor, Triton kernels built on 16 workers): ~20-40 s; the same graph
  again in another process is an FX-graph cache hit, ~5-10 s;
- compiling the real FLUX transformer fullgraph cold: ~60-120 s (67 s published for an H100, PyTorch devlog
  May 2026); a real decoder's decode step: ~30-60 s per cache bucket, two or three buckets per compiled variant;
- a real-size random checkpoint: random init on the GPU takes seconds, the copy to the host ~10 GB/s, the
  safetensors write ~1-2 GB/s once the page cache's dirty limit is reached: ~60 s for FLUX's 34 GB, ~50 s for
  Phi-4's 29 GB (CHECKPOINTS; a stage pays it only when its checkpoint isn't on the machine yet);
- reading a checkpoint back comes mostly from the page cache (128 GiB of RAM): ~20-30 s to the GPU for 34 GB;
- FLUX at 1024 px, 28 steps: ~7-8 s per image in bf16 eager, ~3.5-4.5 s fp8 compiled (lora-fast, H100).
"""

from dataclasses import dataclass
from pathlib import Path

from scripts.gpu.workdir import checkpoint_ready


@dataclass(frozen=True)
class Checkpoint:
    size_bytes: int  # bf16 on disk: parameters x 2 bytes (counted on the meta device, tests/test_gpu_stages.py)
    make_s: int  # to make it on the H200 machine (see above)


CHECKPOINTS = {
    # transformer 11.90 B + T5-XXL encoder 4.76 B + CLIP-L text 0.12 B + VAE 0.08 B parameters
    "flux-dev": Checkpoint(size_bytes=33_750_000_000, make_s=60),
    "phi4-reasoning": Checkpoint(size_bytes=29_320_000_000, make_s=50),  # 14.66 B parameters
}


@dataclass(frozen=True)
class Stage:
    name: str
    target: str  # "module:function" taking a StageContext
    estimate_s: int  # on the H200 machine, cold, without making `checkpoint`
    summary: str
    cuda_only: bool = False
    writes_json: bool = True
    env: tuple[tuple[str, str], ...] = ()  # set before the stage's modules are imported
    checkpoint: str | None = None  # the real-size checkpoint it reads (CHECKPOINTS), made first if missing
    packages: str = "main"  # the carried wheel set it runs with (scripts/gpu/package_sets.py): "main" or "phi4"

    def estimate(self, work: Path) -> int:
        """Seconds on the H200 machine, counting the checkpoint unless it is on the machine already."""
        if self.checkpoint and not checkpoint_ready(work, self.checkpoint):
            return self.estimate_s + CHECKPOINTS[self.checkpoint].make_s
        return self.estimate_s


PHI4 = "phi4"  # the Phi-4 container's package set: Unsloth and datasets 4.3.0 (package_sets.py)

STAGES = (
    # imports ~20 s, Unsloth's import probe ~20-30 s, HQQ on the tiny SmolLM3 ~10 s
    Stage("env", "scripts.gpu.env:run", 60,
          "GPU, driver, torch and library versions (both package sets); imports; HQQ's kernel on a tiny model; "
          "Unsloth import with the Phi-4 set"),
    # tiny FLUX set built ~15 s; txt2img fp8 server: start ~15 s + fp8 + compile cold ~35 s + 6 swaps ~5 s;
    # img2img fp8: the same graph from the inductor cache, ~30 s
    Stage("functional-flux", "scripts.gpu.functional:flux", 120,
          "FLUX text-to-image fp8 through the Cog server: styles and LoRAs hot-swapped in both slots, "
          "recompiles = 0; image-to-image fp8"),
    # two servers: start ~15 s + quantize + decode step compiled cold ~30-40 s + two answers, ~60 s each
    Stage("functional-text", "scripts.gpu.functional:text", 130,
          "SmolLM3 (HQQ 4-bit: int4 kernel on every layer) and Gemma-3 (INT8, with an image) through the Cog "
          "server"),
    # Unsloth's import ~20-30 s + 4-bit load ~5 s + answers; the NF4 fallback compiles its decode, ~60 s
    Stage("functional-phi4", "scripts.gpu.functional:phi4", 120,
          "Phi-4 through Unsloth (the container's package set), then the transformers + NF4 fallback, through "
          "the Cog server", packages=PHI4),
    Stage("functional-flux-nf4", "scripts.gpu.functional:flux_nf4", 75,
          "FLUX text-to-image NF4 (the small-GPU default) through the Cog server, hot-swaps, recompiles = 0",
          cuda_only=True),
    # load ~25 s + fp8 ~10 s + compile ~90 s + warm-up ~10 s + 5 swaps and images ~25 s + process ~10 s
    Stage("speed-flux-fp8", "scripts.gpu.speed:flux_fp8", 190,
          "the FLUX engine, fp8 transformer + compile + LoRA live: s/image, swap time, recompiles (makes the "
          "~34 GB checkpoint the FLUX stages after it share)", cuda_only=True, checkpoint="flux-dev"),
    # load ~25 s + a warm-up and 5 images at ~7.5 s
    Stage("speed-flux-eager", "scripts.gpu.speed:flux_eager", 90,
          "plain bf16 FLUX.1-dev pipeline, eager: the control for the engine's target", checkpoint="flux-dev"),
    # bf16 eager ~60 s; compiled decode: ~2.5 compiles x ~45 s; HQQ quantize ~30 s + compiles again
    Stage("speed-smollm3", "scripts.gpu.speed:smollm3", 400,
          "SmolLM3-3B decode tokens/s at each context: bf16 eager, bf16 + compiled decode, HQQ 4-bit + compiled"),
    # the real-layer checkpoint ~20 s; setup: HQQ ~30 s + 4 decode compiles ~45 s each + batch engine ~10 s;
    # 7 levels of 128 tokens, the longest 32 requests one at a time (~40 s)
    Stage("concurrency-smollm3", "scripts.gpu.concurrency:smollm3", 330,
          "SmolLM3 (real layer sizes, HQQ 4-bit) at 1/4/16/32 concurrent requests, batched, against one at a "
          "time: aggregate and per-request tokens/s, TTFT p50/p95", cuda_only=True),
    Stage("speed-gemma3", "scripts.gpu.speed:gemma3", 380,
          "Gemma-3-4B decode tokens/s: bf16 eager, bf16 + compiled decode, INT8 + compiled decode"),
    # 14B: eager ~60 s, compiled ~150 s, Unsloth 4-bit load from the checkpoint ~60 s + runs ~40 s
    Stage("speed-phi4", "scripts.gpu.speed_phi4:run", 420,
          "Phi-4 14B decode tokens/s and peak VRAM: bf16 eager, bf16 + compiled decode, 4-bit as deployed "
          "(Unsloth, with the Phi-4 container's package set)", checkpoint="phi4-reasoning", packages=PHI4),
    Stage("speed-phi4-nf4", "scripts.gpu.speed_phi4:fallback", 230,
          "Phi-4 14B 4-bit through the deployment's fallback (transformers + bitsandbytes NF4, USE_UNSLOTH=0)",
          cuda_only=True, env=(("USE_UNSLOTH", "0"),), checkpoint="phi4-reasoning", packages=PHI4),
    # load ~25 s + compile ~90 s + 6 images at ~5 s
    Stage("speed-flux-compiled", "scripts.gpu.speed:flux_compiled", 150,
          "plain bf16 FLUX pipeline with its transformer compiled (the control for compilation)",
          checkpoint="flux-dev"),
    Stage("speed-flux-int8", "scripts.gpu.speed:flux_int8", 170,
          "the FLUX engine, INT8 weight-only transformer + compile + LoRA live", checkpoint="flux-dev"),
    Stage("speed-flux-bf16", "scripts.gpu.speed:flux_bf16", 150,
          "the FLUX engine, bf16 transformer + compile + LoRA live (the slots' cost without quantization)",
          checkpoint="flux-dev"),
    # NF4 dequantizes then multiplies at FLUX's 4,608 tokens: ~10 s per image
    Stage("speed-flux-nf4", "scripts.gpu.speed:flux_nf4", 200,
          "the FLUX engine, NF4 transformer + compile + LoRA live", cuda_only=True, checkpoint="flux-dev"),
    # 4 Cog server boots of the real-layer SmolLM3 (~15 s of imports each): HQQ ~30 s and 2 decode compiles of
    # ~45 s in the control and the first boot, loading instead of quantizing after, compile-cache hits on the third
    Stage("cold-start-smollm3", "scripts.gpu.cold_start:smollm3", 420,
          "SmolLM3 (real layer sizes) booted through the Cog server: quantizing at boot without a compile cache "
          "(the control), then on the saved served model with an empty compile cache, with the first boot's "
          "Mega-Cache, restarted on its inductor cache: READY seconds and each setup stage", cuda_only=True),
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


@dataclass(frozen=True)
class Plan:
    """What one `run` call does: stages in order (done ones skipped), within a budget and the files it may return."""

    stages: tuple[str, ...]
    budget_s: float  # stage time on CUDA; the call's timeout_s adds the install and a killed stage's grace
    max_stage_files: int  # stage JSON that may come back through $OUT, beside check.log
    summary: str


# The run tool brings back at most 8 files from $OUT: check.log and 7 stage JSON.
RETURNED_FILES = 8
# The one call of a loan. Device time: machine start (~1-3 min) + this command (<= timeout_s) + transfers must
# stay inside the loan's 15 minutes: 180 + 580 + ~30 s leaves ~110 s; call give_back right after.
LOAN_CALL = {"command": "bash scripts/gpu/loan.sh", "carry": [".whl"], "timeout_s": 580}
LOAN = Plan(
    stages=tuple(s.name for s in STAGES if s.writes_json),
    # Counted from loan.sh's start, the install (~15-25 s) included; what's left of timeout_s covers a stopped
    # stage's SIGTERM grace (10 s), the summary and tee: the command ends before the tool kills it.
    budget_s=540,
    max_stage_files=RETURNED_FILES - 1,
    summary="one call per loan: env, every deployment's functional check, FLUX fp8 speed, then the rest; the "
            "report is rendered here from what comes back",
)
PLANS = {"loan": LOAN}


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
