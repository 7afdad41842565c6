"""Stages `functional-*`: every deployment through the real Cog server on the device, loaded from the tiny models
by the production code, each exercised as a client would and checked.

Each scenario records: whether it passed, its checks, the server's setup time, every prediction's metrics, and
the setup log lines that say which path was taken (quantization, kernels, backend, compiled graphs). A stage
stopped at the budget keeps the scenarios it finished (one row each), so the most decisive go first.
"""

import base64
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from scripts.benchmarks import deployed
from scripts.gpu.context import StageContext
from scripts.harness.cog_server import DEPLOYMENTS, REPO, CogServer

# Setup lines worth keeping: what was quantized and how, which kernel or backend, what was compiled.
PATH_LINES = re.compile(r"backend|FLUX transformer|HQQ|hqq|kernel|torchao|INT8|fp8|nf4|bitsandbytes|compil|"
                        r"LoRA slot|attention|unsloth|warm:|bucket|cache", re.IGNORECASE)
NOISE = re.compile(r"FutureWarning|UserWarning|DeprecationWarning|warnings\.warn")
SMALL_IMAGE = {"aspect_ratio": "custom", "width": 64, "height": 64, "num_inference_steps": 2, "output_format": "png"}


@dataclass(frozen=True)
class Scenario:
    name: str
    deployment: str
    env: dict[str, str]
    exercise: Callable[[CogServer], dict]  # returns {"checks": {name: bool}, ...anything else worth keeping}
    # Checks on the server's log: {what: a pattern some log message must match}, e.g. which backend was taken.
    log_checks: dict[str, str] = field(default_factory=dict)


def output_text(prediction: dict) -> str:
    """A streamed text prediction's output is a list of pieces; the answer is their concatenation."""
    return "".join(prediction.get("output") or [])


def data_uri(path: Path) -> str:
    return f"data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}"


def log_messages(log: str) -> list[str]:
    """The server log's messages: coglet writes each as a JSON line with the text in `fields.message`."""
    messages = []
    for line in log.splitlines():
        try:
            messages.append(json.loads(line)["fields"]["message"].strip())
        except (ValueError, KeyError, TypeError):
            messages.append(line.strip())
    return messages


def path_lines(log: str, limit: int = 40) -> list[str]:
    seen, lines = set(), []
    for line in log_messages(log):
        if PATH_LINES.search(line) and not NOISE.search(line) and line not in seen and len(lines) < limit:
            seen.add(line)
            lines.append(line[:300])
    return lines


def server_env(context: StageContext, scenario: Scenario) -> dict[str, str]:
    """The server's environment. PYTHONPATH carries on the stage's own after the repo (CogServer would set the
    repo alone): a Phi-4 stage's package set comes first on it (scripts/gpu/package_sets.py)."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {"DEVICE": context.device.type, "HF_HUB_OFFLINE": "1", "PYTHONPATH": path,
            "OUTPUT_DIR": str(context.work.scratch(f"outputs/{scenario.name}")), **scenario.env}


def run_scenario(context: StageContext, scenario: Scenario) -> None:
    env = server_env(context, scenario)
    row = {"scenario": scenario.name, "deployment": scenario.deployment, "env": scenario.env, "checks": {}}
    server = CogServer(scenario.deployment, env)
    start = time.perf_counter()
    try:
        server.start()
        row["setup_s"] = round(time.perf_counter() - start, 2)
        row |= scenario.exercise(server)
    except Exception as error:
        row["error"] = f"{type(error).__name__}: {error}"[-3000:]
    finally:
        server.stop()
        log = server.log_tail(10**8)
        messages = log_messages(log)
        for what, pattern in scenario.log_checks.items():
            row["checks"][what] = any(re.search(pattern, message) for message in messages)
        row["path"] = path_lines(log)
        row["passed"] = not row.get("error") and bool(row["checks"]) and all(row["checks"].values())
        if not row["passed"]:
            row["log_tail"] = log[-4000:]
    context.record.row(row)


def image_digest(prediction: dict) -> str:
    payload = prediction["output"][0].split(",", 1)[1]
    return hashlib.sha256(base64.b64decode(payload)).hexdigest()[:16]


def swap_styles(custom_lora: Path) -> Callable[[CogServer], dict]:
    """No style, two built-in styles, a custom LoRA file, a style and the custom LoRA in the second slot, then the
    first style alone again: every prediction on the compiled transformer, each LoRA hot-swapped in."""
    sequence = [("none", {"style": "none"}), ("Cinematic", {"style": "Cinematic"}), ("GHIBSKY", {"style": "GHIBSKY"}),
                ("custom", {"lora_weights": str(custom_lora)}),
                ("Cinematic + extra custom", {"style": "Cinematic", "extra_lora": str(custom_lora)}),
                ("Cinematic again", {"style": "Cinematic"})]

    def exercise(server: CogServer) -> dict:
        predictions = []
        for label, inputs in sequence:
            result = server.predict(prompt="Cinematic, GHIBSKY, a castle", seed=5, **SMALL_IMAGE, **inputs)
            predictions.append({"lora": label, "status": result["status"], "error": result.get("error"),
                                "metrics": result.get("metrics", {}),
                                "image": image_digest(result) if result["status"] == "succeeded" else None})
        images = [p["image"] for p in predictions]
        recompiles = [p["metrics"].get("recompiles") for p in predictions]
        return {"predictions": predictions, "checks": {
            "all succeeded": all(p["status"] == "succeeded" for p in predictions),
            "recompiles 0 on every swap": all(r == 0 for r in recompiles),
            "each LoRA changes the image": len(set(images[:5])) == 5,
            "swapping back reproduces the image": images[1] == images[5],
        }}

    return exercise


def img2img(image: Path) -> Callable[[CogServer], dict]:
    def exercise(server: CogServer) -> dict:
        result = server.predict(prompt="Cinematic, a lighthouse", image=data_uri(image), prompt_strength=0.8,
                                seed=1, **SMALL_IMAGE)
        again = server.predict(prompt="GHIBSKY, a lighthouse", image=data_uri(image), prompt_strength=0.8, seed=1,
                               **SMALL_IMAGE)
        recompiles = [r.get("metrics", {}).get("recompiles") for r in (result, again)]
        return {"predictions": [{"status": r["status"], "error": r.get("error"), "metrics": r.get("metrics", {})}
                                for r in (result, again)],
                "checks": {"succeeded": result["status"] == again["status"] == "succeeded",
                           "recompiles 0": recompiles == [0, 0]}}

    return exercise


def flux_env(context: StageContext, quantize: str) -> dict[str, str]:
    flux_dir, loras = context.work.tiny("flux"), context.work.tiny_loras()
    return {"FLUX_MODEL_DIR": str(flux_dir), "FLUX_STYLE_LORAS_DIR": str(loras["styles"]),
            "LORA_LOCAL_DIR": str(loras["custom"].parent), "WARMUP_SIZE": "64", "MAX_LORA_RANK": "8",
            "FLUX_QUANTIZE": quantize, **context.work.tiny_safety_checker()}


def txt2img(context: StageContext, quantize: str) -> Scenario:
    return Scenario(f"txt2img {quantize}", "flux-dev-txt2img", flux_env(context, quantize),
                    swap_styles(context.work.tiny_loras()["custom"]), flux_log_checks(quantize))


def flux(context: StageContext) -> None:
    """The device's first FLUX quantization (fp8 on an H200): text-to-image with every hot-swap, image-to-image."""
    quantize = deployed.functional_flux_quantizations(context.device)[0]
    run_scenario(context, txt2img(context, quantize))
    image = DEPLOYMENTS / "flux-dev-img2img" / "examples" / "scene.png"
    run_scenario(context, Scenario(f"img2img {quantize}", "flux-dev-img2img", flux_env(context, quantize),
                                   img2img(image), flux_log_checks(quantize)))


def flux_nf4(context: StageContext) -> None:
    """The other CUDA quantizations (NF4, the default on small GPUs): text-to-image with every hot-swap."""
    for quantize in deployed.functional_flux_quantizations(context.device)[1:]:
        run_scenario(context, txt2img(context, quantize))


def flux_log_checks(quantize: str) -> dict[str, str]:
    return {f"transformer loaded as {quantize}": rf"FLUX transformer: {quantize}\b",
            "compiled at setup": r"warm: [1-9]\d* compiled graph"}


def chat(inputs: dict, expect_in_answer: str = "") -> Callable[[CogServer], dict]:
    """One greedy prediction, and the same one streamed over server-sent events: the same answer."""

    def exercise(server: CogServer) -> dict:
        result = server.predict(**inputs)
        events = server.stream(**inputs)
        chunks = [data["chunk"] for name, data in events if name == "output"]
        answer = output_text(result)
        checks = {"succeeded": result["status"] == "succeeded",
                  "streamed": events[-1][1].get("status") == "succeeded",
                  "stream equals the answer": "".join(chunks) == answer}
        if expect_in_answer:
            checks[f"answer has {expect_in_answer!r}"] = expect_in_answer in answer
        return {"answer": answer[:500], "metrics": result.get("metrics", {}), "error": result.get("error"),
                "checks": checks}

    return exercise


COMPILED = {"decode step compiled at setup": r"warm-up: decode step over a \d+-token cache"}


def text(context: StageContext) -> None:
    scenarios = [
        Scenario("smollm3 HQQ 4-bit", "smollm3",
                 {"SMOLLM3_MODEL_DIR": str(context.work.tiny("smollm3")), "MAX_CONTEXT_TOKENS": "1024"},
                 chat({"prompt": "Tell me about the sea.", "mode": "no_think", "max_new_tokens": 16,
                       "temperature": 0}),
                 {"HQQ int4 kernel on every 4-bit layer": r"HQQ 4-bit kernel: int4 tinygemm .* on (\d+) of \1 ",
                  **COMPILED}),
        Scenario("gemma3 INT8 + image", "gemma3",
                 {"GEMMA3_MODEL_DIR": str(context.work.tiny("gemma3")), "MAX_CONTEXT_TOKENS": "1024"},
                 chat({"prompt": "What is in this image?", "max_new_tokens": 12, "temperature": 0,
                       "image": data_uri(DEPLOYMENTS / "gemma3" / "examples" / "scene.png")}),
                 {"INT8 weight-only": r"torchao INT8 weight-only on \d+ layers", **COMPILED}),
    ]
    for scenario in scenarios:
        run_scenario(context, scenario)


def phi4(context: StageContext) -> None:
    """Through Unsloth first (CUDA only: elsewhere the predictor never imports it), then the transformers + NF4
    fallback. Runs with the Phi-4 container's package set (stages.py `packages`), passed on to the servers."""
    # 1024 tokens hold Phi-4's long system prompt and the answer: one cache, one graph compiled at setup.
    env = {"PHI4_MODEL_DIR": str(context.work.tiny("phi4-reasoning")), "MAX_CONTEXT_TOKENS": "1024"}
    ask = chat({"prompt": "What is the capital of France?", "max_new_tokens": 24, "temperature": 0,
                "show_reasoning": True}, expect_in_answer="Paris")
    if context.device.type == "cuda":
        # Fails with the reason in the log ("unsloth not used: ...") when Unsloth can't run here.
        run_scenario(context, Scenario("phi4 via Unsloth", "phi4-reasoning", {**env, "USE_UNSLOTH": "1"}, ask,
                                       {"Unsloth backend": r"backend: unsloth"}))
    run_scenario(context, Scenario("phi4 via transformers", "phi4-reasoning", {**env, "USE_UNSLOTH": "0"}, ask,
                                   {"transformers + NF4 backend": r"backend: transformers\+bitsandbytes-nf4",
                                    **COMPILED}))
