"""How many graphs dynamo has compiled in this process: the one counter the no-recompile checks read."""


def compiled_graph_count() -> int:
    """Graphs dynamo has compiled in this process: a recompile shows up as one more."""
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"]
