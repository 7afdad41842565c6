"""FLUX LoRAs from reference to live slot: parsing references, fetching and caching files, checking and
converting formats, hot-swapping into compiled slots."""
