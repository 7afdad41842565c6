"""The FLUX.1 engine and the service both FLUX predictors call: hardware choice, quantized loading, sizes,
styles, the safety checker and image outputs."""
