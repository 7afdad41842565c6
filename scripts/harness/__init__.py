"""The test harness: the real Cog server on loopback, a deployment's predictor loaded as a container loads it,
and the tiny offline models."""
