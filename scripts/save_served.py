"""`make weights-<name>`, after the download: optimize the weights once (quantize, prune) and save the served
model beside them (weights/served/<name>/), so every boot loads it instead of quantizing again
(shared/optim/served_weights.py). Runs with the image's settings (cog.yaml's `environment`), on CUDA when this
machine has it, else on the CPU: what is saved is the same on any device. A deployment that saves nothing with
those settings (Phi-4's checkpoint is already 4-bit; FLUX picks its quantization from the GPU at boot) says so.
"""

import argparse
import os

from scripts.harness.deployment_predictor import DEPLOYMENTS, image_environment, predictor_module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("deployment", help="a folder name under deployments/")
    args = parser.parse_args()
    module = predictor_module(args.deployment)
    model = getattr(module, "MODEL", None)
    from shared.text.service import TextModel, save_served

    if not isinstance(model, TextModel):
        print(f"{args.deployment}: no served model to save (its quantization is chosen from the GPU at boot)")
        return
    # The deployment folder is where the weights are baked from: WEIGHTS_DIR is relative to it, as in the image.
    os.chdir(DEPLOYMENTS / args.deployment)
    saved = save_served(model, {**os.environ, **image_environment(DEPLOYMENTS / args.deployment)})
    print(f"{args.deployment}: served model saved in {saved}" if saved else f"{args.deployment}: nothing to save")


if __name__ == "__main__":
    main()
