"""The BN254 scalar field as ezkl writes it: the one codec for every public instance.

ezkl serialises a field element as 32 little-endian bytes in hex. A circuit's signed
fixed-point value v at scale s is the element round(v * 2^s) mod r, so negative values sit
just below the modulus. Contracts decode the same way (`ZkmlConsumer._decodeSigned`).

Pure Python on purpose: ezkl's own `felt_to_int` converts through an i128 and silently
truncates larger elements (a Poseidon hash, say), and nothing here needs ezkl loaded.
"""

from __future__ import annotations

import re

#: BN254 scalar field modulus r: every public instance is a field element below it.
FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617
#: a canonical felt in ezkl's JSON: 64 hex digits (little-endian bytes), optionally 0x-prefixed
FELT_HEX = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


def felt_from_hex(felt: str) -> int:
    """The field element (0 <= x < 2^256; callers check < r where it matters) of ezkl's hex."""
    return int.from_bytes(bytes.fromhex(felt.removeprefix("0x")), "little")


def felt_to_hex(value: int) -> str:
    """ezkl's hex for a field element, as it writes instances (no 0x prefix)."""
    return (value % FIELD_MODULUS).to_bytes(32, "little").hex()


def is_canonical_hex(felt: object) -> bool:
    """True for a well-formed felt string whose value is below the modulus."""
    return isinstance(felt, str) and FELT_HEX.match(felt) is not None and felt_from_hex(felt) < FIELD_MODULUS


def to_signed(felt: int) -> int:
    """The signed integer a felt carries: the upper half of the field is negative."""
    return felt - FIELD_MODULUS if felt > FIELD_MODULUS // 2 else felt


def from_signed(value: int) -> int:
    """The felt carrying a signed integer (inverse of `to_signed` for |value| < r / 2)."""
    return value % FIELD_MODULUS


def to_float(felt: int, scale: int) -> float:
    """A felt read as signed fixed point with `scale` fractional bits."""
    return to_signed(felt) / (1 << scale)


def hex_to_float(felt: str, scale: int) -> float:
    """ezkl's hex felt as the float it encodes at `scale`."""
    return to_float(felt_from_hex(felt), scale)


def fixed_to_float(values: list[int], scale: int) -> list[float]:
    """Signed felts at `scale` as floats: exact for |v| < 2^53, so ezkl quantises them back
    to the very same integers (how a consumer's integer instances become a sample)."""
    return [to_float(value, scale) for value in values]
