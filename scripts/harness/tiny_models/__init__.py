"""Tiny random-weight models with locally trained tokenizers.

They share the real architectures, chat templates and special tokens of the production models, so the
production loaders, predictors and Cog server run on them unchanged, on a CPU, in seconds.
"""
