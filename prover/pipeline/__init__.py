"""The cached build pipeline: export -> settings (tuned) -> compile -> fidelity -> SRS -> keys.

`builds` runs the stages in order and reruns one only when the hashes of its inputs
change; each stage is one module here. The public entry point is `prover.build`.
"""
