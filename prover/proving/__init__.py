"""Proving a built circuit: the one prove body, its input checks, proofs, and backends.

Kept free of torch and web3 (import-linter checks it), so a proving worker or the
measuring child starts in a fraction of a second with a small footprint.
"""
