"""The GPU proof: wheels for the borrowed GPU machine, and the staged check run there (docs/gpu-check.md)."""
