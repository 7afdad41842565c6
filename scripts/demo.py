"""The main job on a laptop: a tiny SmolLM3 behind the real Cog server, streaming an answer.

Builds a random-weight SmolLM3 (real architecture and chat template) under .cache/tiny/, starts the
smollm3 deployment on it through `python -m cog.server.http`, and prints the answer as it streams.
The weights are random, wired so that greedy decoding gives one fixed answer (scripts/harness/tiny_models/scripted.py):
what is real is the path the answer takes, which is the production one.
"""

import argparse
import os
import sys

from scripts.harness.cog_server import REPO, CogServer
from scripts.harness.tiny_models.smollm3 import build_tiny_smollm3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", default="What is the capital of France?")
    parser.add_argument("--mode", default="no_think", choices=["think", "no_think"])
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()

    model_dir = build_tiny_smollm3(REPO / ".cache" / "tiny" / "smollm3-scripted", scripted=True)
    env = {
        "SMOLLM3_MODEL_DIR": str(model_dir),
        "MAX_CONTEXT_TOKENS": "1024",
        "DEVICE": os.environ.get("DEVICE", "cpu"),
        "TORCHINDUCTOR_CACHE_DIR": str(REPO / ".cache" / "inductor"),
    }
    print(f"tiny SmolLM3 in {model_dir}; starting the Cog server (HQQ 4-bit + compile)...", flush=True)
    with CogServer("smollm3", env) as server:
        print(f"READY at {server.url}\n\n> {args.prompt}\n", flush=True)
        events = server.stream(
            prompt=args.prompt, mode=args.mode, max_new_tokens=args.max_new_tokens, temperature=0, seed=0
        )
        for name, data in events:
            if name == "output":
                sys.stdout.write(data["chunk"])
        completed = events[-1][1]
        print("\n\n(a tiny random-weight SmolLM3 wired to give that answer: the real part is the path)")
        print(f"status: {completed['status']}  metrics: {completed.get('metrics')}")
        if completed["status"] != "succeeded":
            sys.exit(completed.get("error"))


if __name__ == "__main__":
    main()
