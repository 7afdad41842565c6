"""FLUX output sizes: the aspect-ratio table (about one megapixel each, Replicate's FLUX list) and custom sides.

No heavy imports: predictors and the schema tools read it.
"""

ASPECT_RATIOS = {
    "1:1": (1024, 1024), "16:9": (1344, 768), "21:9": (1536, 640), "3:2": (1216, 832), "2:3": (832, 1216),
    "4:5": (896, 1088), "5:4": (1088, 896), "3:4": (896, 1152), "4:3": (1152, 896), "9:16": (768, 1344),
    "9:21": (640, 1536),
}
# FLUX packs 2x2 patches of 8x8-pixel latents: each side must be a multiple of 16.
SIDE_MULTIPLE = 16


def image_size(aspect_ratio: str, width: int, height: int) -> tuple[int, int]:
    """(width, height) of the output: the table's size, or the custom sides rounded down to a multiple of 16."""
    if aspect_ratio != "custom":
        return ASPECT_RATIOS[aspect_ratio]
    return width - width % SIDE_MULTIPLE, height - height % SIDE_MULTIPLE
