"""The on-chain model registry: register and audit a circuit's versions, manage access.

Not to be confused with `models.REGISTRY`, the lookup of reference models by name.
"""
