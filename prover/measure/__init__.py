"""Measuring circuits side by side: `compare` (models x variants) and `bench` (baseline vs
tuned), both through one measuring loop, proofs timed in fresh child processes."""
