"""What every deployment needs around its model: setup, secrets, where weights come from, inputs and
their checks, input images, outputs, metrics."""
