"""EIP-712 attestations: an attester vouches that a commitment hides a borrower's true features.

The attester (a bank, an identity provider) has seen the borrower's documents and the
salted file `prover commit` wrote; it signs (commitment, borrower, expiry) for one
CreditLine contract on one chain. The typed-data domain pins both, so a signature made
for one lender, or one chain, is worthless at another. The type string must equal
`CreditLine.ATTESTATION_TYPEHASH`'s; a forge test pins the contract's digest and a
Python test checks this encoding against the contract's `attestationDigest`.
"""

from __future__ import annotations

import re
from pathlib import Path

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from pydantic import BaseModel, ConfigDict, StrictInt, ValidationError, field_validator
from web3 import Web3

from prover.artifacts import write_json_atomic
from prover.consumers.credit.commitment import commitment_hex, parse_commitment
from prover.errors import PrivateInputError
from prover.jsonio import read_json

DOMAIN_NAME = "CreditLine"
DOMAIN_VERSION = "1"
#: seconds, minutes, hours, days: `--expiry 30d` is 30 days after the chain's latest block
_DURATION = re.compile(r"^\+?(\d+)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_EXPIRY = 2**64 - 1
#: secp256k1's group order: OpenZeppelin's ECDSA refuses s > SECP256K1_N // 2 (malleable copies)
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class Attestation(BaseModel):
    """A signed attestation, as `prover attest` writes it and `prover apply` reads it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    commitment: str
    borrower: str
    expiry: StrictInt
    chain_id: StrictInt
    verifying_contract: str
    attester: str
    signature: str

    @field_validator("commitment")
    @classmethod
    def _felt(cls, value: str) -> str:
        try:
            return commitment_hex(parse_commitment(value))
        except PrivateInputError as exc:
            raise ValueError(exc.message) from None

    @field_validator("borrower", "verifying_contract", "attester")
    @classmethod
    def _address(cls, value: str) -> str:
        if not Web3.is_address(value):
            raise ValueError(f"{value!r} is not an address")
        return Web3.to_checksum_address(value)

    @field_validator("expiry")
    @classmethod
    def _expiry(cls, value: int) -> int:
        if not 0 <= value <= MAX_EXPIRY:
            raise ValueError("expiry must fit in 64 bits")
        return value

    @field_validator("signature")
    @classmethod
    def _signature(cls, value: str) -> str:
        if not re.fullmatch(r"0x[0-9a-fA-F]*", value) or len(value) % 2:
            raise ValueError("signature must be 0x-hex bytes")
        return value.lower()

    @property
    def commitment_value(self) -> int:
        return int(self.commitment, 16)

    def as_struct(self) -> tuple[int, str, int]:
        """The contract's `Attestation` tuple (commitment, borrower, expiry)."""
        return self.commitment_value, self.borrower, self.expiry

    def signature_bytes(self) -> bytes:
        return bytes.fromhex(self.signature.removeprefix("0x"))


def typed_data(commitment: int, borrower: str, expiry: int, chain_id: int, contract: str) -> dict[str, object]:
    """The EIP-712 message a CreditLine at `contract` on `chain_id` checks."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Attestation": [
                {"name": "commitment", "type": "uint256"},
                {"name": "borrower", "type": "address"},
                {"name": "expiry", "type": "uint64"},
            ],
        },
        "primaryType": "Attestation",
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": Web3.to_checksum_address(contract),
        },
        "message": {"commitment": commitment, "borrower": Web3.to_checksum_address(borrower), "expiry": expiry},
    }


def attest(
    attester: LocalAccount, commitment: int, borrower: str, expiry: int, chain_id: int, contract: str
) -> Attestation:
    """Sign an attestation with the attester's key (nothing is sent: the borrower sends it)."""
    if not Web3.is_address(borrower):
        raise PrivateInputError(f"borrower {borrower!r} is not an address")
    if not 0 <= expiry <= MAX_EXPIRY:
        raise PrivateInputError(f"expiry {expiry} does not fit in 64 bits")
    message = encode_typed_data(full_message=typed_data(commitment, borrower, expiry, chain_id, contract))
    signed = attester.sign_message(message)
    return Attestation(
        commitment=commitment_hex(commitment),
        borrower=borrower,
        expiry=expiry,
        chain_id=chain_id,
        verifying_contract=contract,
        attester=attester.address,
        signature="0x" + bytes(signed.signature).hex(),
    )


def recovered_attester(attestation: Attestation) -> str | None:
    """Who signed this attestation's fields for its domain; compare with `attestation.attester`:
    a mismatch is a forgery or an edited file. None for a signature the contract's
    `ECDSA.tryRecover` refuses (not 65 bytes, v not 27 or 28, a high s), which eth_account
    alone would read."""
    raw = attestation.signature_bytes()
    if len(raw) != 65 or raw[64] not in (27, 28) or int.from_bytes(raw[32:64], "big") > SECP256K1_N // 2:
        return None
    message = encode_typed_data(
        full_message=typed_data(
            attestation.commitment_value,
            attestation.borrower,
            attestation.expiry,
            attestation.chain_id,
            attestation.verifying_contract,
        )
    )
    try:
        return str(Account.recover_message(message, signature=raw))
    except Exception:  # eth_keys raises several types for a malformed signature
        return None


def parse_expiry(text: str, now: int) -> int:
    """`--expiry`: a unix time, or a duration after `now` (the chain's latest block time):
    90s, 30m, 12h, 30d."""
    text = text.strip()
    match = _DURATION.match(text)
    if match:
        return now + int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if text.isdigit():
        return int(text)
    raise PrivateInputError(f"expiry {text!r} is neither a unix time nor a duration like 30d, 12h, 30m, 90s")


def write_attestation(path: Path, attestation: Attestation) -> None:
    write_json_atomic(path, attestation.model_dump())


def read_attestation(path: Path) -> Attestation:
    """An attestation file; anything malformed is one PrivateInputError naming the first problem."""
    document = read_json(path, "attestation file", PrivateInputError)
    try:
        return Attestation.model_validate(document)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "file"
        raise PrivateInputError(f"{path}: {where}: {error['msg']}") from None
