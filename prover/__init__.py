"""zkML toolkit: prove small models' inference with ezkl, verify off-chain and on-chain."""

__version__ = "0.1.0"
