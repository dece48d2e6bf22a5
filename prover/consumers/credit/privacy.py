"""Privacy is scanned, not claimed: look for a borrower's features everywhere the chain keeps data.

After an application, everything the chain holds about it is: the calldata of every
transaction, every log (topics and data), and every storage slot any of them wrote
(read back from the node's state-diff tracer, so no slot is missed by guessing layouts).
This module searches all of it for every way the features could have leaked: the raw
values (as 32-byte words, ASCII, IEEE floats), the fixed-point scores the circuit reads
(big- and little-endian words, ezkl's hex), the salt words, and the whole salted tensor
as an ABI array. A search for a pattern as short as a small number would "find" ABI
offsets and lengths everywhere, so only distinctive patterns are searched one by one;
small values are still covered by the search for the whole tensor, and `Secrets.skipped`
names what was not searched alone, so a report never overstates what it looked for.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from prover.evm.client import Chain
from prover.proving.field import FIELD_MODULUS, felt_to_hex

#: a 32-byte word below this could be an ABI offset, a length or a flag: not searched alone
MIN_DISTINCT_WORD = 1 << 12
#: ASCII renderings shorter than this are too common to mean anything
MIN_ASCII = 4
#: a float's bytes with fewer non-zero bytes than this (0.0, 7.0) match any zero padding
MIN_NONZERO_BYTES = 3


@dataclass(frozen=True)
class Pattern:
    """One byte string that would betray a secret, and what it encodes."""

    label: str
    data: bytes


@dataclass(frozen=True)
class Secrets:
    """The patterns to search for, and the encodings too short to search alone."""

    patterns: list[Pattern]
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Exposure:
    """Everything the chain keeps about some transactions, by where it was found."""

    places: dict[str, bytes]

    @property
    def transactions(self) -> int:
        return sum(1 for place in self.places if place.startswith("calldata "))

    @property
    def logs(self) -> int:
        return sum(1 for place in self.places if place.startswith("log "))

    @property
    def storage_slots(self) -> int:
        """Distinct slots (each is searched as it is now and as every transaction left it)."""
        return sum(1 for place in self.places if place.startswith("storage 0x"))


@dataclass(frozen=True)
class Finding:
    place: str
    label: str


@dataclass(frozen=True)
class ScanReport:
    """What was searched, where, and what was found (nothing, if the features stayed private)."""

    patterns: int
    skipped: list[str]
    transactions: int
    logs: int
    storage_slots: int
    findings: list[Finding]

    @property
    def clean(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        verdict = "none found" if self.clean else f"{len(self.findings)} FOUND ({self.findings[0].label})"
        return (
            f"{self.patterns} encodings of the features searched in {self.transactions} transactions' calldata, "
            f"{self.logs} logs and {self.storage_slots} storage slots: {verdict} "
            f"({len(self.skipped)} too short to search alone, covered by the whole-tensor search)"
        )


def _word(value: int) -> bytes:
    return (value % FIELD_MODULUS if value < 0 else value).to_bytes(32, "big")


def _distinct(value: int) -> bool:
    """A word that cannot pass for an offset, length or flag: large, or a negative felt."""
    return value < 0 or value >= MIN_DISTINCT_WORD


def _number_patterns(label: str, value: float, out: list[Pattern], skipped: list[str]) -> None:
    """A raw feature as a program might have written it on chain."""
    if float(value).is_integer():
        whole = int(value)
        texts = [str(whole)]
        if _distinct(whole):
            out.append(Pattern(f"{label} as a word", _word(whole)))
        else:
            skipped.append(f"{label} as a word ({whole})")
    else:
        texts = [repr(float(value)), f"{value:g}"]
    exact = Decimal(str(value))  # the value as written, so x1e18 of 12.3 is 12300000000000000000
    for factor, unit in ((Decimal(100), "x100"), (Decimal(10) ** 18, "x1e18")):
        scaled = exact * factor
        if scaled != scaled.to_integral_value() or scaled == exact:
            continue
        if _distinct(int(scaled)):
            out.append(Pattern(f"{label} {unit} as a word", _word(int(scaled))))
        else:
            skipped.append(f"{label} {unit} as a word ({int(scaled)})")
    for text in dict.fromkeys(texts):
        if len(text) >= MIN_ASCII:
            out.append(Pattern(f"{label} as text {text!r}", text.encode()))
        else:
            skipped.append(f"{label} as text {text!r}")
    packed = struct.pack(">d", value)
    if sum(1 for byte in packed if byte) < MIN_NONZERO_BYTES:
        skipped.append(f"{label} as float64 ({value:g})")
        return
    out.append(Pattern(f"{label} as float64", packed))
    out.append(Pattern(f"{label} as float64 (little-endian)", packed[::-1]))


def _felt_patterns(label: str, fixed: int, out: list[Pattern], skipped: list[str]) -> None:
    """A fixed-point value as the circuit reads it: a felt, in every byte order ezkl or the EVM uses."""
    felt = fixed % FIELD_MODULUS
    out.append(Pattern(f"{label} as ezkl hex", felt_to_hex(felt).encode()))
    if _distinct(fixed):
        out.append(Pattern(f"{label} as a word", felt.to_bytes(32, "big")))
        out.append(Pattern(f"{label} as a little-endian word", felt.to_bytes(32, "little")))
    else:
        skipped.append(f"{label} as a word ({fixed})")


def secrets_of(features: Mapping[str, float], fixed_inputs: Sequence[int], feature_count: int) -> Secrets:
    """Every encoding of one borrower's features and salt worth searching for.

    `fixed_inputs` are the salted tensor's signed fixed-point integers (features first, then
    salt), as the circuit reads them.
    """
    patterns: list[Pattern] = []
    skipped: list[str] = []
    for name, value in features.items():
        _number_patterns(name, float(value), patterns, skipped)
    for index, fixed in enumerate(fixed_inputs):
        kind = f"score of {list(features)[index]}" if index < feature_count else f"salt word {index - feature_count}"
        _felt_patterns(kind, int(fixed), patterns, skipped)
    felts = [int(fixed) % FIELD_MODULUS for fixed in fixed_inputs]
    patterns.append(Pattern("salted tensor as an ABI array", b"".join(f.to_bytes(32, "big") for f in felts)))
    patterns.append(Pattern("features as an ABI array", b"".join(f.to_bytes(32, "big") for f in felts[:feature_count])))
    patterns.append(Pattern("salted tensor as little-endian words", b"".join(f.to_bytes(32, "little") for f in felts)))
    return Secrets(patterns, skipped)


def _storage_writes(chain: Chain, tx_hash: str) -> dict[tuple[str, str], bytes]:
    """Every storage slot a transaction wrote, with its value after it (the node's state diff)."""
    trace: Any = chain.w3.provider.make_request(
        "debug_traceTransaction",  # type: ignore[arg-type]
        [tx_hash, {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}}],
    )
    if "error" in trace:
        raise RuntimeError(f"the node cannot trace {tx_hash}: {trace['error']}")
    writes = {}
    for address, state in trace["result"].get("post", {}).items():
        for slot, value in state.get("storage", {}).items():
            writes[(address.lower(), slot)] = bytes.fromhex(value.removeprefix("0x").rjust(64, "0"))
    return writes


def exposure_of(chain: Chain, tx_hashes: Iterable[str]) -> Exposure:
    """Calldata, logs and written storage of these transactions: every value each one wrote
    (a slot overwritten later is still searched for what it held), and each slot as it is now."""
    places: dict[str, bytes] = {}
    slots: set[tuple[str, str]] = set()
    for tx_hash in tx_hashes:
        tx = chain.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        places[f"calldata {tx_hash}"] = bytes(tx["input"])
        receipt = chain.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        for log in receipt["logs"]:
            where = f"log {tx_hash}#{log['logIndex']}"
            places[where] = b"".join(bytes(topic) for topic in log["topics"]) + bytes(log["data"])
        for (address, slot), value in _storage_writes(chain, tx_hash).items():
            places[f"storage written by {tx_hash} {address}[{slot}]"] = value
            slots.add((address, slot))
    for address, slot in sorted(slots):
        value = chain.w3.eth.get_storage_at(chain.w3.to_checksum_address(address), int(slot, 16))
        places[f"storage {address}[{slot}]"] = bytes(value).rjust(32, b"\0")
    return Exposure(places)


def scan(exposure: Exposure, secrets: Secrets) -> ScanReport:
    """Every place searched for every pattern (as a byte substring, at any offset)."""
    findings = [
        Finding(place, pattern.label)
        for place, data in exposure.places.items()
        for pattern in secrets.patterns
        if pattern.data in data
    ]
    return ScanReport(
        patterns=len(secrets.patterns),
        skipped=secrets.skipped,
        transactions=exposure.transactions,
        logs=exposure.logs,
        storage_slots=exposure.storage_slots,
        findings=findings,
    )
