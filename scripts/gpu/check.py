"""GPU proof in stages: every deployment working on the GPU, then how fast, then a report.

    python -m scripts.gpu.check --plan loan --out DIR --done docs/gpu [--device cuda|cpu]   # one GPU loan
    python -m scripts.gpu.check --stage all|functional|speed|flux|<stage>[,...] [--device cuda|cpu] [--out DIR]

Each stage writes `<out>/<stage>.json` as it measures and is skipped next time once complete on the same device
(in --out or in a --done folder) unless --force, so a run cut short resumes where it stopped. On CUDA, and in
the loan plan everywhere, each stage runs in its own process group (a crash or an Unsloth import can't leak
into the next, and a stage stopped at the budget is killed with its Cog servers). --budget-s starts only stages
whose H200 estimate fits the time left and stops the one still running at the end. `--plan loan` is what one
GPU loan runs (scripts/gpu/loan.sh): every stage in priority order within the loan's budget (on CUDA) and the
files $OUT brings back. Exit status: 0 all selected stages done, 1 a stage failed, 3 stages left (not started
or stopped at the budget: the next call continues). `--device cpu` is the dry run on the tiny models
(tests/test_gpu_check_dry_run.py). The procedure on a borrowed GPU machine: docs/gpu-check.md.
"""

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

from scripts.gpu.package_sets import compare_to_phi4_container, pythonpath
from scripts.gpu.processes import run_group
from scripts.gpu.results import StageRecorder, drop_partial, is_done
from scripts.gpu.stages import CHECKPOINTS, PLANS, STAGES, Stage, select

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "docs" / "gpu"
REPORT = REPO / "docs" / "benchmarks-gpu.md"


def stage_line(stage: Stage) -> str:
    checkpoint = f" (+{CHECKPOINTS[stage.checkpoint].make_s} s to make {stage.checkpoint})" if stage.checkpoint else ""
    return f"  {stage.name:<20} ~{stage.estimate_s:>3d} s{checkpoint}  {stage.summary}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    stage_list = "\n".join(stage_line(s) for s in STAGES)
    parser = argparse.ArgumentParser(
        prog="python -m scripts.gpu.check", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"stages (in run order; seconds on an H200, cold):\n{stage_list}",
    )
    parser.add_argument("--plan", choices=sorted(PLANS), help="loan: what one GPU loan runs (docs/gpu-check.md): "
                        "its stages, budget and file limit; --stage, --budget-s, --max-stages override")
    parser.add_argument("--stage", help="stage or group names, comma-separated (default: all)")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--out", type=Path, help="stage JSON folder (default: docs/gpu on cuda, "
                        ".cache/gpu-check-cpu on cpu)")
    parser.add_argument("--done", type=Path, action="append", default=[],
                        help="another folder whose complete stage JSON counts as done (and feeds the report)")
    parser.add_argument("--work", type=Path, help="scratch folder for models and checkpoints "
                        "(default: /tmp/gpu-check-<device>)")
    parser.add_argument("--report", type=Path, help="report path (default: docs/benchmarks-gpu.md when --out is "
                        "docs/gpu, else <out>/benchmarks-gpu.md)")
    parser.add_argument("--force", action="store_true", help="run stages even when their JSON is complete")
    parser.add_argument("--budget-s", type=float, help="start only stages whose estimate fits the seconds left; "
                        "stop the one running when they are spent (default with --plan on cuda: the plan's)")
    parser.add_argument("--max-stages", type=int, help="start at most this many stages (the run tool brings back "
                        "8 files from $OUT)")
    parser.add_argument("--size", choices=("real", "tiny", "smoke"), help="real: published architectures, random "
                        "weights (default on cuda); tiny: the test models, benchmark sizes; smoke: the test models, "
                        "one short run of each (default on cpu)")
    parser.add_argument("--runs", type=int, help="timed runs per figure (default 5)")
    parser.add_argument("--new-tokens", type=int, help="tokens decoded per LLM request")
    parser.add_argument("--contexts", help="LLM context lengths, comma-separated (default 512,4096,16384 real)")
    isolation = parser.add_mutually_exclusive_group()
    isolation.add_argument("--isolate", dest="isolate", action="store_true", default=None,
                           help="each stage in its own process (default on cuda)")
    isolation.add_argument("--in-process", dest="isolate", action="store_false", help="stages in this process")
    parser.add_argument("--list", action="store_true", help="list the selected stages and exit")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # a stage process: its driver logs
    args = parser.parse_args(argv)
    plan = PLANS.get(args.plan)
    args.stage = args.stage or (",".join(plan.stages) if plan else "all")
    if plan is not None:
        # The budget is H200 seconds: a CPU dry run takes its own time, and runs everything the plan would.
        if args.budget_s is None and args.device == "cuda":
            args.budget_s = plan.budget_s
        if args.max_stages is None:
            args.max_stages = plan.max_stage_files
        if args.isolate is None:
            args.isolate = True  # as on the GPU: process groups, the Phi-4 package set, the budget's kill
    args.out = (args.out or (RESULTS if args.device == "cuda" else REPO / ".cache" / "gpu-check-cpu")).resolve()
    args.work = (args.work or Path(f"/tmp/gpu-check-{args.device}")).resolve()
    args.done = [d.resolve() for d in args.done]
    args.report = args.report or (REPORT if args.out == RESULTS.resolve() else args.out / "benchmarks-gpu.md")
    args.size = args.size or ("real" if args.device == "cuda" else "smoke")
    args.isolate = args.device == "cuda" if args.isolate is None else args.isolate
    if args.runs is not None and args.runs < 1:
        parser.error(f"--runs: must be at least 1, got {args.runs}")
    return args


def prepare_process(work: Path) -> None:
    """Settings every stage process starts with, before torch is imported: no network, no telemetry, compiled
    kernels cached in the work folder (a machine still warm reuses them in the next call)."""
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(work / "inductor"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("PRUNA_METRICS_ENABLED", "false")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # readable logs: no progress bars
    os.environ.setdefault("TQDM_DISABLE", "1")


def run_in_process(stage: Stage, args: argparse.Namespace) -> bool:
    prepare_process(args.work)
    os.environ.update(stage.env)
    module_name, function_name = stage.target.split(":")
    # The stage's module first: one of them must import Unsloth before anything imports transformers.
    function = getattr(importlib.import_module(module_name), function_name)
    import torch

    from scripts.benchmarks.models import PROFILES
    from scripts.gpu.context import StageContext
    from scripts.gpu.workdir import Workdir
    from shared.common.runtime import configure_logging

    configure_logging()
    if args.device == "cuda" and stage.writes_json and not torch.cuda.is_available():  # the report runs anywhere
        raise SystemExit("--device cuda: no CUDA device is visible (use --device cpu for the dry run)")
    contexts = tuple(int(c) for c in args.contexts.split(",")) if args.contexts else None
    profile = PROFILES[args.size].with_overrides(
        runs=args.runs, new_tokens=args.new_tokens, contexts=contexts)
    recorder = StageRecorder(args.out, stage.name, args.device) if stage.writes_json else None
    if recorder is not None and stage.packages == "phi4":  # what this process imports, against the container's pins
        recorder.info("packages", compare_to_phi4_container())
    context = StageContext(stage.name, torch.device(args.device), profile, Workdir(args.work), args.out,
                           [args.out, *args.done], args.report, recorder)
    try:
        function(context)
    except Exception as error:
        if recorder is None:
            raise
        recorder.error("stage", error)
        return False
    if recorder is not None:
        recorder.info("profile", profile)
        recorder.finish()
        return not recorder.data["errors"]
    return True


def stage_command(stage: Stage, args: argparse.Namespace) -> list[str]:
    command = [sys.executable, "-m", "scripts.gpu.check", "--child", "--stage", stage.name, "--in-process", "--force",
               "--device", args.device, "--out", str(args.out), "--work", str(args.work), "--size", args.size,
               "--report", str(args.report)]
    for folder in args.done:
        command += ["--done", str(folder)]
    for flag, value in (("--runs", args.runs), ("--new-tokens", args.new_tokens), ("--contexts", args.contexts)):
        if value is not None:
            command += [flag, str(value)]
    return command


def stage_environment(stage: Stage) -> dict[str, str]:
    """The stage process's environment: its variables, and its package set first on PYTHONPATH (the Phi-4
    stages': the Phi-4 container's pins, scripts/gpu/package_sets.py)."""
    return {**os.environ, **dict(stage.env),
            "PYTHONPATH": pythonpath(stage.packages, os.environ.get("PYTHONPATH", ""))}


STOPPED = "stopped at the budget"


def run_isolated(stage: Stage, args: argparse.Namespace, timeout: float | None) -> bool | str:
    """True or False as the stage succeeded; STOPPED when the budget ran out first (its process group, Cog
    servers and their workers included, is killed; its JSON keeps what was measured)."""
    returncode = run_group(stage_command(stage, args), timeout, cwd=REPO, env=stage_environment(stage))
    if returncode is None:
        drop_partial(args.out, stage.name)
        print(f"[{stage.name}] {STOPPED} ({timeout:.0f} s); its JSON keeps what was measured", flush=True)
        return STOPPED
    return returncode == 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        stages = select(args.stage)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    if args.list:
        for stage in stages:
            print(stage_line(stage).strip())
        return 0
    deadline = None
    if args.budget_s:
        # A plan's budget counts from loan.sh's start (GPU_CHECK_STARTED): the install is inside it.
        counted_from = float(os.environ.get("GPU_CHECK_STARTED") or time.time()) if args.plan else time.time()
        deadline = time.monotonic() + args.budget_s - max(0.0, time.time() - counted_from)
    outcome, started, began = {}, 0, time.monotonic()
    for stage in stages:
        if stage.cuda_only and args.device != "cuda":
            outcome[stage.name] = "needs CUDA"
        elif stage.writes_json and not args.force and is_done([args.out, *args.done], stage.name, args.device):
            outcome[stage.name] = "done before"
        elif deadline is not None and stage.estimate(args.work) > deadline - time.monotonic():
            outcome[stage.name] = (f"not started: ~{stage.estimate(args.work)} s > "
                                   f"{deadline - time.monotonic():.0f} s left")
        elif args.max_stages is not None and started >= args.max_stages and stage.writes_json:
            outcome[stage.name] = f"not started: --max-stages {args.max_stages}"
        else:
            started += stage.writes_json
            if not args.child:
                left = f", {deadline - time.monotonic():.0f} s left" if deadline is not None else ""
                print(f"== {stage.name} (at {time.monotonic() - began:.0f} s{left}): {stage.summary}", flush=True)
            start = time.monotonic()
            timeout = deadline - time.monotonic() if deadline is not None else None
            isolate = args.isolate and stage.writes_json
            ok = run_isolated(stage, args, timeout) if isolate else run_in_process(stage, args)
            status = ok if ok == STOPPED else ("ok" if ok else "FAILED")
            outcome[stage.name] = f"{status} in {time.monotonic() - start:.0f} s"
    if not args.child:
        print("\n".join(f"{name:<20} {status}" for name, status in outcome.items()), flush=True)
    left = [name for name, status in outcome.items() if status.startswith(("not started", STOPPED))]
    if args.plan and left:
        print(f"left for the next loan: {', '.join(left)} (collect this call's JSON into docs/gpu first: "
              "docs/gpu-check.md)", flush=True)
    if any(status.startswith("FAILED") for status in outcome.values()):
        return 1
    return 3 if left else 0


if __name__ == "__main__":
    sys.exit(main())
