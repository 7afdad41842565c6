"""Markdown tables from benchmark rows (as stored in JSON), shared by the CPU report (docs/benchmarks.md) and
the GPU report (docs/benchmarks-gpu.md): one rendering for both."""


def spread(value: dict | None, digits: int = 1, scale: float = 1.0) -> str:
    """'median (min-max)' of a Spread stored as a dict."""
    if not value:
        return "-"
    median, low, high = (value[k] * scale for k in ("median", "min", "max"))
    return f"{median:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def control_of(rows: list[dict], row: dict, variant: str) -> dict | None:
    """The row of `variant` for the same model and context as `row`."""
    return next((r for r in rows if r["model"] == row["model"] and r["context_tokens"] == row["context_tokens"]
                 and r["variant"] == variant), None)


def speedup(rows: list[dict], row: dict, control: str) -> float | None:
    base = control_of(rows, row, control)
    if not base:
        return None
    return row["decode_tokens_per_s"]["median"] / base["decode_tokens_per_s"]["median"]


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def decode_table(rows: list[dict]) -> list[str]:
    """Language models: one line per (model, variant, context), with the ratio to both controls."""
    lines = [
        "| model | variant | context | decode tokens/s, median (min-max) | vs bf16 eager | vs bf16 compiled | "
        "prefill s | share of bound | weights MB | peak MB (setup) | first request s | recompiles |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        bound = row.get("bandwidth_bound_tokens_per_s")
        share = f"{100 * row['decode_tokens_per_s']['median'] / bound:.0f}% of {bound:.0f}" if bound else "-"
        cache = f" (cache {row['cache_tokens']})" if row.get("cache_tokens") else ""
        lines.append(
            f"| {row['model']} | {row['variant']}{cache} | {row['context_tokens']} | "
            f"{spread(row['decode_tokens_per_s'])} | {ratio(speedup(rows, row, 'bf16 eager'))} | "
            f"{ratio(speedup(rows, row, 'bf16 + compiled decode'))} | {spread(row['prefill_s'], 3)} | {share} | "
            f"{row['weight_mb']:.1f} | {row['peak_memory_mb']:.0f} ({row['setup_peak_memory_mb']:.0f}) | "
            f"{row['first_request_s']:.2f} | "
            f"{row['recompiles']} |"
        )
    return lines


def image_table(rows: list[dict]) -> list[str]:
    """FLUX: one line per variant, seconds per image against the bf16 eager control."""
    eager = next((r for r in rows if r["variant"] == "bf16 eager"), None)
    lines = [
        "| variant | s / image, median (min-max) | vs bf16 eager | LoRA swap ms, median (max) | recompiles | "
        "peak MB | setup s | first image s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        relative = row["s_per_image"]["median"] / eager["s_per_image"]["median"] if eager else None
        swap = row.get("swap_s")
        swap_text = f"{1000 * swap['median']:.0f} ({1000 * swap['max']:.0f})" if swap else "-"
        lines.append(
            f"| {row['variant']} | {spread(row['s_per_image'], 3)} | {ratio(relative)} | {swap_text} | "
            f"{row['recompiles']} | {row['peak_memory_mb']:.0f} | {row['setup_s']:.1f} | {row['first_image_s']:.2f} |"
        )
    return lines


def error_lines(errors: list[dict]) -> list[str]:
    return [f"- **{e['what']}**: `{e['error'].splitlines()[0][:300]}`" for e in errors]
