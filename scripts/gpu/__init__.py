"""The GPU proof (docs/gpu-check.md), one `run` call per loan: `wheels` builds the two package sets the borrowed
machine lacks (`package_sets`), `loan.sh` is the call (`install`, then `check --plan loan`, stages in their own
process groups through `processes`), `collect` keeps what came back in docs/gpu/ for the next loan, and the
`report` stage renders docs/benchmarks-gpu.md; `--device cpu` is the dry run."""
