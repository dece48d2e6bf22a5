"""The on-chain model registry: register and audit a circuit's versions, manage access.

Not the lookup of reference models by name: that is `models.REFERENCE_MODELS`.
"""
