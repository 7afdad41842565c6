"""The GPU proof (docs/gpu-check.md): `wheels` builds what the borrowed GPU machine lacks, `install.sh` installs
it there, `check` runs the stages (env, functional, speed) and the report; `--device cpu` is the dry run."""
