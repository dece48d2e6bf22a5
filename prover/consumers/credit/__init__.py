"""Private inputs: a credit line priced from a proven score over attested, hashed features.

`commitment` (salted sample and its Poseidon hash), `attestation` (EIP-712 signatures of
an attester), `line` (the CreditLine consumer and `apply`), `privacy` (the scan of what
the chain keeps), `demo` (the story). See docs/privacy.md.
"""
