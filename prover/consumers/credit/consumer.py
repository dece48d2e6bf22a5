"""`CreditLineConsumer`: what `prover deploy credit` and `prover demo credit` drive.

The consumer protocol's `submit` reads what a contract expects from chain state; a credit
line expects an attested commitment instead, so it is fed by `prover apply`
(prover/consumers/credit/line.py) and `submit` says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3.contract import Contract

from prover.consumers.base import DemoReport, Pin, Request, Submission, consumer_contract
from prover.consumers.credit.attestation import Attestation
from prover.consumers.credit.commitment import MODEL, commitment_hex
from prover.consumers.credit.demo import run_credit_demo
from prover.consumers.credit.line import DEFAULT_TERMS, terms_text
from prover.errors import ProverError
from prover.evm.client import Chain
from prover.progress import Reporter
from prover.proving.circuit import Circuit
from prover.proving.proofs import Proof


@dataclass(frozen=True)
class CreditLineConsumer:
    """`prover deploy credit` deploys a CreditLine; `prover apply` (not `submit`) feeds it."""

    name: str = MODEL
    contract: str = "CreditLine"
    description: str = "credit line: limit and rate from a proven probability of default over attested private features"

    def constructor_args(self, circuit: Circuit, pin: Pin, owner: str) -> list[Any]:
        """No attester is trusted at first: the owner adds them (`prover credit attester`)."""
        return [pin.verifier, pin.registry, pin.model_id, circuit.info.output_scales[0], DEFAULT_TERMS, [], owner]

    def read_request(
        self, chain: Chain, contract: Contract, circuit: Circuit, block: int, request_file: Path | None
    ) -> Request:
        raise ProverError(
            "a credit line takes an attested commitment, not chain state: it is fed by `prover apply`",
            hint="`prover commit credit`, get it attested (`prover attest`), `prover prove credit`, `prover apply`",
        )

    def submit_call(self, request: Request, proof: Proof) -> tuple[str, list[Any]]:
        attestation: Attestation = request.context["attestation"]
        version = int(request.context["terms_version"])
        return "applyForCredit", [
            proof.raw,
            proof.instances,
            attestation.as_struct(),
            attestation.signature_bytes(),
            version,
        ]

    def outcome(
        self, chain: Chain, contract: Contract, circuit: Circuit, request: Request, proof: Proof, receipt: Any
    ) -> dict[str, Any]:
        event = dict(contract.events.CreditTermsSet().process_receipt(receipt)[0]["args"])
        return {
            "borrower": str(event["borrower"]),
            "attester": str(event["attester"]),
            "commitment": commitment_hex(int(event["commitment"])),
            "pd_bps": int(event["pdBps"]),
            "limit": int(event["limit"]),
            "rate_bps": int(event["rateBps"]),
        }

    def summary(self, submission: Submission) -> list[tuple[str, str]]:
        details = submission.details
        return [
            ("borrower", details["borrower"]),
            ("probability of default", f"{details['pd_bps'] / 100:.2f} %"),
            ("terms", terms_text(details["limit"], details["rate_bps"])),
            ("apply gas", f"{submission.gas_used:,}"),
        ]

    def demo(
        self, workdir: Path, reporter: Reporter, rpc_url: str | None = None, private_key: str | None = None
    ) -> DemoReport:
        """Two borrowers get different terms; a third's borrowed attestation is refused."""
        return run_credit_demo(self, workdir, reporter, rpc_url, private_key)


def open_credit_line(chain: Chain, circuit: Circuit, address: str | None = None) -> Contract:
    """The deployed CreditLine: `address`, else the one `prover deploy credit` recorded."""
    return consumer_contract(chain, CreditLineConsumer(), circuit, address)
