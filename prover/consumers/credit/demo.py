"""`prover demo credit`: a lender prices two borrowers it never sees, and refuses a borrowed attestation.

Accounts of the embedded anvil play every part: the lender owns the CreditLine, a bank
attests, three borrowers apply. Each borrower commits to their own features (fresh
salt), the bank signs the commitment, the borrower proves and applies. Two borrowers
with different profiles get different terms; a third sends the first one's attestation
and proof from their own account and is refused by name (simulated, so never mined). Then
every transaction the story mined after deployment (trusting the bank, the applications) is
scanned for the borrowers' features (prover/consumers/credit/privacy.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from prover.consumers.base import DemoReport, Pin, consumer_contract, deploy_consumer
from prover.consumers.credit.attestation import attest, read_attestation, write_attestation
from prover.consumers.credit.commitment import MODEL, check_commitment_of, commit, commitment_hex, sample_fixed
from prover.consumers.credit.line import apply, read_terms, set_attester, terms_text
from prover.consumers.credit.privacy import ScanReport, Secrets, exposure_of, scan, secrets_of
from prover.errors import ProverError, TransactionReverted
from prover.evm.client import Chain, connect
from prover.evm.verifier import deploy_verifier, estimate_verify_gas
from prover.pipeline.builds import build_reference
from prover.progress import Reporter, timed_stage
from prover.proving.circuit import Circuit, open_circuit
from prover.registry.contract import open_registry
from prover.registry.versions import register

if TYPE_CHECKING:
    from web3.contract import Contract

    from prover.consumers.base import Consumer
    from prover.consumers.credit.line import Application

#: two profiles a lender should price apart: established, and thinner-file with more debt
BORROWERS: dict[str, dict[str, float]] = {
    "established": {
        "income": 78_600,
        "debt_to_income": 19.5,
        "credit_history_years": 12.5,
        "delinquencies": 0,
        "utilization": 27.5,
        "open_accounts": 7,
    },
    "stretched": {
        "income": 55_300,
        "debt_to_income": 27.5,
        "credit_history_years": 8.5,
        "delinquencies": 0,
        "utilization": 48.5,
        "open_accounts": 8,
    },
}
ATTESTATION_DAYS = 30


def _apply_as(
    chain: Chain, line: Contract, circuit: Circuit, workdir: Path, profile: str, bank: Chain, reporter: Reporter
) -> tuple[Application, Path, Path]:
    """One borrower's whole path: features -> commit -> attest -> prove -> apply."""
    features_file = workdir / f"credit-{profile}.features.json"
    features_file.write_text(json.dumps(BORROWERS[profile], indent=2) + "\n")
    salted = workdir / f"credit-{profile}.salted.json"
    with timed_stage(reporter, "commit", profile) as outcome:
        made = commit(circuit, features_file, salted, overwrite=True)  # the story's own, made anew each run
        outcome.detail = made.hex[:18] + "…"
    check_commitment_of(circuit, made.commitment, salted, features_file)  # the bank checks before it signs
    now = int(chain.w3.eth.get_block("latest")["timestamp"])
    attestation = attest(
        bank.signer, made.commitment, chain.address, now + ATTESTATION_DAYS * 86400, chain.chain_id, line.address
    )
    attestation_file = workdir / f"credit-{profile}.attestation.json"
    write_attestation(attestation_file, attestation)
    with timed_stage(reporter, "prove", profile) as outcome:
        result = circuit.prove(salted, workdir / f"credit-{profile}.proof.json")
        outcome.detail = f"{result.prove_seconds:.2f} s"
    with timed_stage(reporter, "apply", profile) as outcome:
        application = apply(chain, line, attestation, result.proof)
        outcome.detail = terms_text(application.limit, application.rate_bps)
    return application, attestation_file, result.proof.path


def _privacy(chain: Chain, circuit: Circuit, workdir: Path, tx_hashes: list[str]) -> ScanReport:
    """The whole story's transactions scanned for every borrower's features at once."""
    from models.credit import N_FEATURES  # noqa: PLC0415 - the model module imports torch

    exposure = exposure_of(chain, tx_hashes)
    patterns, skipped = [], []
    scale = int(circuit.info.input_scales[0])
    for profile, features in BORROWERS.items():
        fixed = sample_fixed(circuit.load_input(workdir / f"credit-{profile}.salted.json"), scale)
        found = secrets_of(features, fixed, N_FEATURES)
        patterns += found.patterns
        skipped += found.skipped
    return scan(exposure, Secrets(patterns, skipped))


def run_credit_demo(
    consumer: Consumer,
    workdir: Path,
    reporter: Reporter,
    rpc_url: str | None = None,
    private_key: str | None = None,
) -> DemoReport:
    """The story on an embedded anvil, every figure read from the chain."""
    if rpc_url is not None:
        raise ProverError(
            "the credit story plays five accounts: it runs on an embedded anvil only",
            hint="`prover demo credit` without --rpc-url",
        )
    build_reference(MODEL, workdir, reporter=reporter)
    circuit = open_circuit(MODEL, workdir)
    with connect(None, private_key, log_dir=workdir) as chain:
        assert chain.node is not None
        keys = [account.private_key for account in chain.node.dev_accounts()[1:5]]
        bank, borrowers = chain.signed_by(keys[0]), [chain.signed_by(key) for key in keys[1:]]
        with timed_stage(reporter, "deploy", "verifier, registry, credit line; trust the bank") as outcome:
            verifier = deploy_verifier(chain, circuit)
            registry = open_registry(chain, workdir, deploy_if_missing=True)
            registration = register(chain, registry, circuit, verifier=verifier.address)
            deployed = deploy_consumer(
                chain, consumer, circuit, Pin(verifier.address, registry.address, registration.model_id)
            )
            line = consumer_contract(chain, consumer, circuit, deployed.address)
            trust_tx = set_attester(chain, line, bank.address, True)
            outcome.detail = deployed.address
        rows, applications, tx_hashes, files, verify_gases = [], [], [trust_tx], [], []
        for borrower, profile in zip(borrowers, BORROWERS, strict=False):
            application, attestation_file, proof_path = _apply_as(
                borrower, line, circuit, workdir, profile, bank, reporter
            )
            applications.append(application)
            files.append((attestation_file, proof_path))
            tx_hashes.append(application.tx_hash)
            terms = read_terms(chain, line, application.borrower)
            verify_gas = estimate_verify_gas(chain, verifier.address, circuit.read_proof(proof_path)) or 0
            verify_gases.append(verify_gas)
            rows.append(
                [
                    profile,
                    application.borrower[:10] + "…",
                    f"{application.pd_bps / 100:.2f} %",
                    terms_text(terms.limit, terms.rate_bps),
                    f"{verify_gas:,}",
                    f"{application.gas_used:,}",
                ]
            )
        first, first_files = applications[0], files[0]
        with timed_stage(reporter, "apply", "a third borrower with the first one's attestation") as outcome:
            stolen = read_attestation(first_files[0])
            proof = circuit.read_proof(first_files[1])
            try:
                sent = apply(borrowers[2], line, stolen, proof, check=False)
                refusal = "accepted (unexpected)"
                tx_hashes.append(sent.tx_hash)
            except TransactionReverted as exc:
                refusal = f"refused: {exc.error_name}"
            outcome.detail = refusal
        with timed_stage(reporter, "scan", "calldata, logs and storage for the features") as outcome:
            report = _privacy(chain, circuit, workdir, tx_hashes)
            outcome.detail = "none found" if report.clean else f"{len(report.findings)} found"
    return DemoReport(
        title="CreditLine on an embedded anvil",
        columns=["borrower", "account", "probability of default", "terms", "verifyProof gas", "apply gas"],
        rows=rows,
        facts=[
            f"the bank ({bank.address}) attested each commitment; the lender saw only hashes and scores",
            f"a third borrower with {first.borrower[:10]}…'s attestation: {refusal}",
            f"privacy scan: {report.summary()}",
        ],
        document={
            "credit_line": deployed.address,
            "verifier": verifier.address,
            "registry": registry.address,
            "attester": bank.address,
            "applications": [
                {**application.document(), "verify_gas": verify_gas}
                for application, verify_gas in zip(applications, verify_gases, strict=True)
            ],
            "borrowed_attestation": refusal,
            "privacy_scan": {
                "clean": report.clean,
                "patterns": report.patterns,
                "transactions": report.transactions,
                "logs": report.logs,
                "storage_slots": report.storage_slots,
                "findings": [f"{finding.label} in {finding.place}" for finding in report.findings],
                "not_searched_alone": report.skipped,
            },
            "commitments": [commitment_hex(application.commitment) for application in applications],
        },
    )
