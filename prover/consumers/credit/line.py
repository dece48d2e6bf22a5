"""The lender's side: `CreditLine` (contracts/src/examples/CreditLine.sol) and `prover apply`.

A borrower applies with a proof over their salted features, an attestation of its
commitment and their own account; the contract checks all three and sets a credit limit
and rate from the proven probability of default. Before any gas is spent, `apply` makes
the same checks the contract makes, each under the contract's error name, so a user
learns of a wrong attestation or a proof over other features at once, for free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3.contract import Contract

from prover.consumers.credit.attestation import Attestation, recovered_attester
from prover.consumers.credit.commitment import commitment_hex
from prover.errors import ChainError
from prover.evm.client import Chain, call, transact
from prover.proving.proofs import Proof

#: (minLimit, maxLimit, minRateBps, maxRateBps, maxDefaultBps): 1,000 to 50,000 at 5 % to 30 % a
#: year, declined from a 25 % probability of default; the owner changes them with `setTerms`
DEFAULT_TERMS = (1_000, 50_000, 500, 3_000, 2_500)
BPS = 10_000


@dataclass(frozen=True)
class CreditTerms:
    """A borrower's line as the contract recorded it (declined: limit and rate 0)."""

    borrower: str
    pd_bps: int
    limit: int
    rate_bps: int
    updated_at: int

    @property
    def declined(self) -> bool:
        return self.limit == 0


@dataclass(frozen=True)
class Application:
    """An accepted application: who, vouched by whom, the proven score, the terms, the cost."""

    borrower: str
    attester: str
    commitment: int
    pd_bps: int
    limit: int
    rate_bps: int
    tx_hash: str
    gas_used: int

    def document(self) -> dict[str, Any]:
        return {
            "borrower": self.borrower,
            "attester": self.attester,
            "commitment": commitment_hex(self.commitment),
            "probability_of_default_bps": self.pd_bps,
            "limit": self.limit,
            "rate_bps": self.rate_bps,
            "declined": self.limit == 0,
            "tx_hash": self.tx_hash,
            "gas_used": self.gas_used,
        }


def terms_text(limit: int, rate_bps: int) -> str:
    if limit == 0:
        return "declined"
    return f"limit {limit:,} at {rate_bps / 100:.2f} % a year"


def read_terms(chain: Chain, line: Contract, borrower: str) -> CreditTerms:
    limit, rate_bps, pd_bps, updated_at = call(chain, line, "lineOf", borrower)
    return CreditTerms(borrower, int(pd_bps), int(limit), int(rate_bps), int(updated_at))


def check_application(chain: Chain, line: Contract, attestation: Attestation, proof: Proof) -> None:
    """The contract's checks, in its order, under its error names; ChainError on the first
    that fails (nothing has been sent)."""
    if attestation.chain_id != chain.chain_id or attestation.verifying_contract.lower() != str(line.address).lower():
        raise ChainError(
            f"the attestation is for CreditLine {attestation.verifying_contract} on chain {attestation.chain_id}, "
            f"not {line.address} on chain {chain.chain_id}",
            hint="ask the attester to sign for this lender (`prover attest` with its --rpc-url)",
        )
    if attestation.borrower.lower() != chain.address.lower():
        raise ChainError(
            f"NotAttestedBorrower: the attestation names {attestation.borrower}, you are {chain.address}",
            hint="an attestation is only good for the borrower it names: apply from that account",
        )
    now = int(chain.w3.eth.get_block("latest")["timestamp"])
    if attestation.expiry < now:
        raise ChainError(
            f"AttestationExpired: expired at {attestation.expiry}, the chain's time is {now}",
            hint="ask the attester for a fresh attestation (`prover attest ... --expiry 30d`)",
        )
    signer = recovered_attester(attestation)
    if signer is None:
        raise ChainError("InvalidSignature: the attestation's signature is malformed")
    if signer.lower() != attestation.attester.lower() or not call(chain, line, "isAttester", signer):
        raise ChainError(
            f"UntrustedAttester: the attestation was signed by {signer}, whom this lender does not trust",
            hint="the lender's owner adds attesters with `prover credit attester ADDRESS`",
        )
    if not proof.instances or proof.instances[0] != attestation.commitment_value:
        given = commitment_hex(proof.instances[0]) if proof.instances else "nothing"
        raise ChainError(
            f"InputMismatch: the proof is over commitment {given}, the attestation is for {attestation.commitment}",
            hint="prove the salted file whose commitment was attested: `prover prove credit --input SALTED.json`",
        )
    if call(chain, line, "commitmentUsed", attestation.commitment_value):
        raise ChainError(
            f"CommitmentAlreadyUsed: commitment {attestation.commitment} has been applied with already",
            hint="commit again (a fresh salt), get the new commitment attested, prove and apply",
        )


def apply(chain: Chain, line: Contract, attestation: Attestation, proof: Proof, *, check: bool = True) -> Application:
    """Send the application; with `check`, refuse by name what the contract would refuse."""
    if check:
        check_application(chain, line, attestation, proof)
    proof_args = (proof.raw, proof.instances, attestation.as_struct(), attestation.signature_bytes())
    receipt = transact(chain, line, "applyForCredit", *proof_args)
    event = dict(line.events.CreditTermsSet().process_receipt(receipt)[0]["args"])
    return Application(
        borrower=str(event["borrower"]),
        attester=str(event["attester"]),
        commitment=int(event["commitment"]),
        pd_bps=int(event["pdBps"]),
        limit=int(event["limit"]),
        rate_bps=int(event["rateBps"]),
        tx_hash=receipt["transactionHash"].to_0x_hex(),
        gas_used=int(receipt["gasUsed"]),
    )


def set_attester(chain: Chain, line: Contract, attester: str, trusted: bool) -> str:
    """The owner trusts (or stops trusting) an attester; returns the transaction hash."""
    receipt = transact(chain, line, "setAttester", attester, trusted)
    return str(receipt["transactionHash"].to_0x_hex())
