"""What a stage gets: the device, the sizes to run, the scratch folder, where results go, and a recorder."""

from dataclasses import dataclass
from pathlib import Path

import torch

from scripts.benchmarks.models import Profile
from scripts.gpu.results import StageRecorder
from scripts.gpu.workdir import Workdir


@dataclass
class StageContext:
    name: str
    device: torch.device
    profile: Profile
    work: Workdir
    out: Path  # where stage JSON goes
    sources: list[Path]  # every folder whose stage JSON the report reads (out first)
    report_path: Path
    record: StageRecorder

