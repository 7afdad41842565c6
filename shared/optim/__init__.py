"""Model-agnostic optimizations applied once at setup: quantization (HQQ int4 kernels, INT8), pruning,
and the layer filters that say which layers they touch."""
