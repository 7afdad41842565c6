"""A one-file Cog deployment written into a temp folder, to run a shared helper through the real Cog server."""

import textwrap
from pathlib import Path


def throwaway_deployment(directory: Path, predict_source: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cog.yaml").write_text('build:\n  python_version: "3.11"\nrun: "predict.py:Predictor"\n')
    (directory / "predict.py").write_text(textwrap.dedent(predict_source))
    return directory
