"""`make demo`, the README's first command, streams the scripted tiny SmolLM3's answer through the Cog server."""

import subprocess
import sys

from scripts.harness.cog_server import REPO
from scripts.harness.tiny_models.smollm3 import SCRIPT_ANSWER


def test_demo_streams_the_answer():
    result = subprocess.run(
        [sys.executable, "-m", "scripts.demo"], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"\n{SCRIPT_ANSWER}\n" in result.stdout
    assert "status: succeeded" in result.stdout
