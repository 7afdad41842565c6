"""Concurrent requests through a text deployment's service, batched, against the same requests one at a time.

    python -m scripts.benchmarks.concurrency                      # tiny SmolLM3 and Gemma-3 on the CPU
    python -m scripts.benchmarks.concurrency --model-dir smollm3=/weights/smollm3 --device cuda   # the GPU check

Each deployment is set up as its container sets itself up (`TextService.start`, its predict.py `MODEL`, its
defaults, COG_MAX_CONCURRENCY at the largest level measured), then for each level N, N requests arrive at once
and stream to the end; the control is the same N requests one after another, in the same run, on the same
service. A lone request takes the compiled single-request path; the batch engine alone is measured too (level 1,
"batch engine"), to show which of the two a lone request should take. Greedy, fixed answer lengths: the tiny
random models never end early, so every request decodes exactly `--tokens` tokens.
"""

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from scripts.harness.deployment_predictor import predictor_module
from scripts.registry import TINY_MODELS
from shared.text.service import TextRequest, TextService

REPO = Path(__file__).resolve().parents[2]
LEVELS = (1, 4, 16, 32)
MODEL_DIR_ENV = {"smollm3": "SMOLLM3_MODEL_DIR", "gemma3": "GEMMA3_MODEL_DIR"}


@dataclass
class Level:
    deployment: str
    requests: int
    mode: str  # "batched" (all at once), "one at a time" (the control), "batch engine" (one, forced)
    wall_s: float
    aggregate_tokens_per_s: float
    per_request_tokens_per_s: float  # median over requests, decode only (after the first token)
    ttft_p50_s: float
    ttft_p95_s: float


async def one(service: TextService, prompt: str, tokens: int, arrived: float) -> tuple[float, float, int]:
    """(time to first piece since the request `arrived`, seconds from first to last piece, tokens)."""
    first = None
    metrics: dict[str, float] = {}
    request = TextRequest(prompt=prompt, max_new_tokens=tokens, temperature=0.0)
    async for _ in service.stream(request, metrics.__setitem__):
        first = first or time.perf_counter()
    end = time.perf_counter()
    return first - arrived, end - first, int(metrics["output_token_count"])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def measure(service: TextService, deployment: str, count: int, tokens: int, mode: str) -> Level:
    prompts = [f"Request {n}: tell me something." for n in range(count)]
    start = time.perf_counter()
    # Every request arrives at `start`: one at a time, the later ones wait in line, and that wait is theirs.
    if mode == "one at a time":
        results = [await one(service, prompt, tokens, start) for prompt in prompts]
    else:
        results = await asyncio.gather(*(one(service, prompt, tokens, start) for prompt in prompts))
    wall = time.perf_counter() - start
    ttfts = [ttft for ttft, _, _ in results]
    per_request = [(made - 1) / decode for _, decode, made in results if made > 1 and decode > 0]
    return Level(deployment, count, mode, round(wall, 3), round(sum(made for *_, made in results) / wall, 1),
                 round(statistics.median(per_request), 1), round(percentile(ttfts, 0.5), 4),
                 round(percentile(ttfts, 0.95), 4))


async def measure_deployment(service: TextService, deployment: str, levels: tuple[int, ...], tokens: int):
    await measure(service, deployment, 2, 4, "batched")  # first requests: lazy initialisation on both paths
    rows = [await measure(service, deployment, 1, tokens, "one at a time")]
    # The batch engine alone: what a lone request would get if it were always batched.
    service.in_flight += 1
    try:
        rows.append(await measure(service, deployment, 1, tokens, "batch engine"))
    finally:
        service.in_flight -= 1
    for count in (level for level in levels if level > 1):
        rows.append(await measure(service, deployment, count, tokens, "one at a time"))
        rows.append(await measure(service, deployment, count, tokens, "batched"))
    return rows


def start_service(deployment: str, model_dir: Path, device: str, max_requests: int) -> TextService:
    environ = {**os.environ, MODEL_DIR_ENV[deployment]: str(model_dir), "DEVICE": device,
               "COG_MAX_CONCURRENCY": str(max_requests)}
    if device == "cpu":  # the tiny models: a short context, one bucket below it
        environ.update({"MAX_CONTEXT_TOKENS": "1024", "CACHE_BUCKETS": "512"})
    return TextService.start(predictor_module(deployment).MODEL, environ)


def table(rows: list[Level]) -> str:
    lines = ["| deployment | concurrent requests | mode | aggregate tokens/s | vs one at a time | per-request tokens/s "
             "| TTFT p50 s | TTFT p95 s | wall s |", "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    control = {(r.deployment, r.requests): r for r in rows if r.mode == "one at a time"}
    for r in rows:
        ratio = r.aggregate_tokens_per_s / control[(r.deployment, r.requests)].aggregate_tokens_per_s
        lines.append(f"| {r.deployment} | {r.requests} | {r.mode} | {r.aggregate_tokens_per_s} | {ratio:.2f}x | "
                     f"{r.per_request_tokens_per_s} | {r.ttft_p50_s} | {r.ttft_p95_s} | {r.wall_s} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--deployments", nargs="+", default=list(MODEL_DIR_ENV))
    parser.add_argument("--model-dir", action="append", default=[], help="deployment=folder (default: a tiny model)")
    parser.add_argument("--levels", type=int, nargs="+", default=list(LEVELS))
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per request")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks" / "concurrency_cpu")
    args = parser.parse_args(argv)
    folders = dict(item.split("=", 1) for item in args.model_dir)
    rows: list[Level] = []
    with tempfile.TemporaryDirectory() as scratch:
        for deployment in args.deployments:
            folder = Path(folders[deployment]) if deployment in folders else TINY_MODELS[deployment].build(
                Path(scratch) / deployment)
            service = start_service(deployment, folder, args.device, max(args.levels))
            try:
                rows += asyncio.run(measure_deployment(service, deployment, tuple(args.levels), args.tokens))
            finally:
                if service.batch is not None:
                    service.batch.stop()
    machine = (torch.cuda.get_device_name() if args.device == "cuda" else
               f"CPU {platform.machine()}, {torch.get_num_threads()} threads")
    command = "python -m scripts.benchmarks.concurrency" + (f" --device {args.device}" if args.device != "cpu" else "")
    header = (f"Machine: {machine}, torch {torch.__version__}. `{command}`: {args.tokens} greedy tokens per "
              "request; each level against the same requests one at a time, measured in the same run. All requests "
              "of a level arrive together, so time to first token (TTFT) includes waiting in line.\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(header + "\n" + table(rows) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n")
    print(header + "\n" + table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
