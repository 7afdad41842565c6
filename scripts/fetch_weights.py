"""`make weights-<name>`: download the pinned weights a deployment declares (`WEIGHTS` in its predict.py) into
its folder, so `cog build` / `cog push` bake them into the image (Replicate gives containers no secrets at boot,
so a gated model can't be fetched at setup there). HF_TOKEN comes from the environment and is never printed."""

import argparse
import os
import shutil

from scripts.harness.deployment_predictor import DEPLOYMENTS, predictor_module
from shared.common.secrets import hf_token
from shared.common.settings import RuntimeSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("deployment", help="a folder name under deployments/")
    args = parser.parse_args()
    module = predictor_module(args.deployment)
    token = hf_token()
    runtime = RuntimeSettings.from_env(os.environ)
    for declared in module.WEIGHTS:
        source = declared.pinned(runtime)
        destination = DEPLOYMENTS / args.deployment / runtime.weights_dir / source.baked_name
        print(f"{source.repo_id}@{source.revision} -> {destination}", flush=True)
        source.download_to(destination, token)
        size = sum(f.stat().st_size for f in destination.rglob("*") if f.is_file())
        print(f"  {size / 1e9:.1f} GB", flush=True)
        shutil.rmtree(destination / ".cache", ignore_errors=True)  # huggingface_hub's download bookkeeping


if __name__ == "__main__":
    main()
