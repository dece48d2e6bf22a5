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

from web3 import Web3
from web3.contract import Contract

from prover.consumers.credit.attestation import DOMAIN_NAME, DOMAIN_VERSION, Attestation, recovered_attester
from prover.consumers.credit.commitment import commitment_hex
from prover.errors import ChainError, PrivateInputError
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


def check_application(
    chain: Chain, line: Contract, attestation: Attestation, proof: Proof, terms_version: int | None = None
) -> None:
    """The contract's checks of the attestation and the proof's hash, in its order, under its
    error names; ChainError on the first that fails (nothing has been sent). The proof itself
    is checked when the transaction is simulated, before it is signed."""
    if terms_version is not None:
        current = int(call(chain, line, "termsVersion"))
        if current != terms_version:
            raise ChainError(
                f"TermsChanged: you expect terms version {terms_version}, the lender's are version {current}",
                hint="read the lender's terms again (`prover credit terms`) and apply with --terms-version",
            )
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
    if signer.lower() != attestation.attester.lower():
        raise ChainError(
            f"UntrustedAttester: the attestation says {attestation.attester} signed it, its signature is "
            f"{signer}'s: the file was edited after signing",
            hint="use the attestation file as the attester wrote it",
        )
    if not call(chain, line, "isAttester", signer):
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


def apply(
    chain: Chain,
    line: Contract,
    attestation: Attestation,
    proof: Proof,
    *,
    check: bool = True,
    terms_version: int | None = None,
) -> Application:
    """Send the application at `terms_version` (default: the version in force now, so a terms
    change mined before it lands makes it revert `TermsChanged` instead of pricing the
    borrower at terms they never saw); with `check`, refuse by name what the contract would."""
    if check:
        check_application(chain, line, attestation, proof, terms_version)
    version = int(call(chain, line, "termsVersion")) if terms_version is None else terms_version
    proof_args = (proof.raw, proof.instances, attestation.as_struct(), attestation.signature_bytes(), version)
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


@dataclass(frozen=True)
class LenderTerms:
    """The owner's pricing and its version (what `applyForCredit` must quote)."""

    version: int
    min_limit: int
    max_limit: int
    min_rate_bps: int
    max_rate_bps: int
    max_default_bps: int

    def as_struct(self) -> tuple[int, int, int, int, int]:
        return self.min_limit, self.max_limit, self.min_rate_bps, self.max_rate_bps, self.max_default_bps


def read_lender_terms(chain: Chain, line: Contract) -> LenderTerms:
    terms = call(chain, line, "terms")
    return LenderTerms(int(call(chain, line, "termsVersion")), *(int(value) for value in terms))


def set_terms(chain: Chain, line: Contract, terms: LenderTerms) -> str:
    """The owner reprices future applications (InvalidTerms if out of order); the tx hash."""
    receipt = transact(chain, line, "setTerms", terms.as_struct())
    return str(receipt["transactionHash"].to_0x_hex())


def check_lender(chain: Chain, line: Contract) -> None:
    """Refuse to sign for a contract that is not a CreditLine of this chain (its ERC-5267
    `eip712Domain`): a signature for anything else is at best wasted."""
    try:
        _, name, version, chain_id, contract, _, _ = call(chain, line, "eip712Domain")
    except ChainError:
        raise ChainError(
            f"{line.address} is not a CreditLine: it has no EIP-712 domain",
            hint="pass the lender's CreditLine with --credit-line (or the one `prover deploy credit` recorded)",
        ) from None
    if (name, version, int(chain_id)) != (DOMAIN_NAME, DOMAIN_VERSION, chain.chain_id) or str(contract).lower() != str(
        line.address
    ).lower():
        raise ChainError(
            f"{line.address}'s EIP-712 domain is {name} {version} on chain {chain_id}, not a CreditLine's",
            hint="pass the lender's CreditLine with --credit-line",
        )


def set_attester(chain: Chain, line: Contract, attester: str, trusted: bool) -> str:
    """The owner trusts (or stops trusting) an attester; returns the transaction hash."""
    if not Web3.is_address(attester):
        raise PrivateInputError(f"attester {attester!r} is not an address")
    receipt = transact(chain, line, "setAttester", attester, trusted)
    return str(receipt["transactionHash"].to_0x_hex())
