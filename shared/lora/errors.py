"""The one error every LoRA check raises: the LoRA can't be used here, and the message says why."""


class LoraRefused(ValueError):
    """The LoRA can't be hot-swapped into this model; the message says why."""
