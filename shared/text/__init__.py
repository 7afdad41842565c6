"""Text generation: loading causal LMs, static KV caches and the compiled decode step, streaming, stop
sequences, reasoning traces, and the service every text predictor calls."""
