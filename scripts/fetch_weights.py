"""`make weights-<name>`: download the pinned weights a deployment declares (`WEIGHTS` in its predict.py) into
its folder, so `cog build` / `cog push` bake them into the image (Replicate gives containers no secrets at boot,
so a gated model can't be fetched at setup there). HF_TOKEN comes from the environment and is never printed."""

import argparse
import shutil

from scripts.deployment_predictor import DEPLOYMENTS, predictor_module
from shared.model_source import baked_weights_root
from shared.secrets import hf_token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("deployment", help="a folder name under deployments/")
    args = parser.parse_args()
    module = predictor_module(args.deployment)
    token = hf_token()
    for source in module.WEIGHTS:
        destination = DEPLOYMENTS / args.deployment / baked_weights_root() / source.baked_dir.name
        print(f"{source.repo_id}@{source.revision} -> {destination}", flush=True)
        source.download_to(destination, token)
        size = sum(f.stat().st_size for f in destination.rglob("*") if f.is_file())
        print(f"  {size / 1e9:.1f} GB", flush=True)
        shutil.rmtree(destination / ".cache", ignore_errors=True)  # huggingface_hub's download bookkeeping


if __name__ == "__main__":
    main()
