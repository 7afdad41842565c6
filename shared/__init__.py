"""Optimization and serving helpers shared by every deployment in this repository.

Each deployment's Makefile target stages a copy of this package next to its predictor before `cog build`,
so `import shared` works the same way in the container and in the tests.
"""
