"""Private inputs through the real CLI, each command a `prover` subprocess against one anvil:
the lender deploys a CreditLine and trusts a bank; a borrower commits offline, the bank
attests, the borrower proves and applies; mistakes are one-line errors under the
contract's error names, caught before any gas. And `prover demo credit` tells the story.
"""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
from conftest import ChainCli, CliResult, assert_clean_error, run_cli
from contract_env import SECOND_KEY

from prover.evm.client import Chain

pytestmark = [pytest.mark.chain, pytest.mark.slow]

BORROWER_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"  # anvil account 2
BORROWER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
OTHER_KEY = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"  # anvil account 3
BANK = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # SECOND_KEY's address
FEATURES = {
    "income": 61_250,
    "debt_to_income": 27.5,
    "credit_history_years": 6.5,
    "delinquencies": 1,
    "utilization": 48.5,
    "open_accounts": 9,
}


def _offline(work: Path, *args: str | Path) -> CliResult:
    return run_cli(*args, "--workdir", work)


def test_commit_attest_prove_apply_through_the_cli(module_chain: Chain, built: Path, tmp_path: Path) -> None:
    assert module_chain.node is not None
    work = tmp_path / "work"
    shutil.copytree(built / "circuits" / "credit", work / "circuits" / "credit")
    cli = ChainCli(work, module_chain.node.rpc_url)
    features = work / "features.json"
    features.write_text(json.dumps(FEATURES))

    assert_clean_error(
        cli.run("attest", "--commitment", "0x01", "--borrower", BORROWER, key=SECOND_KEY), "prover deploy credit"
    )
    deployed = cli.json("deploy", "credit")
    line = deployed["address"]
    cli.ok("credit", "attester", BANK)

    committed = _offline(work, "commit", "credit", "--input", features)
    assert committed.code == 0, committed.stderr
    commitment = committed.stdout.strip()
    salted = work / "features.salted.json"
    assert commitment.startswith("0x") and len(commitment) == 66
    assert stat.S_IMODE(salted.stat().st_mode) == 0o600, "the salted file is its owner's secret"
    assert "secret" in committed.stderr and str(salted) in committed.stderr

    refused = _offline(work, "commit", "credit", "--input", features)
    assert_clean_error(refused, "exists", "--force")
    assert salted.read_bytes() and _offline(work, "commit", "credit", "--input", features, "--out", work / "x.json")

    attestation = work / "attestation.json"
    lying = work / "lying.json"
    lying.write_text(json.dumps({**FEATURES, "delinquencies": 0}))
    checked = ("--salted", salted, "--features")
    assert_clean_error(
        cli.run("attest", "--commitment", commitment, "--borrower", BORROWER, *checked, lying, key=SECOND_KEY),
        "hides another delinquencies",
    )
    other = work / "features.salted.json.bak"
    other.write_bytes((work / "x.json").read_bytes())
    assert_clean_error(
        cli.run(
            "attest",
            "--commitment",
            commitment,
            "--borrower",
            BORROWER,
            "--salted",
            other,
            "--features",
            features,
            key=SECOND_KEY,
        ),
        "not to the commitment",
    )
    assert_clean_error(
        cli.run(
            "attest",
            "--commitment",
            commitment,
            "--borrower",
            BORROWER,
            "--credit-line",
            deployed["verifier"],
            key=SECOND_KEY,
        ),
        "not a CreditLine",
    )
    assert_clean_error(
        cli.run("attest", "--commitment", commitment, "--borrower", BORROWER, "--expiry", "5", key=SECOND_KEY),
        "before the chain's time",
    )
    signed = cli.json(
        "attest",
        "--commitment",
        commitment,
        "--borrower",
        BORROWER,
        *checked,
        features,
        "--out",
        attestation,
        key=SECOND_KEY,
    )
    assert signed["attester"] == BANK and signed["verifying_contract"].lower() == line.lower()
    proof = work / "credit.proof.json"
    assert _offline(work, "prove", "credit", "--input", salted, "--out", proof).code == 0
    witness = work / "credit.proof.witness.json"
    assert stat.S_IMODE(witness.stat().st_mode) == 0o600, "the witness holds the features and salt in the clear"

    assert_clean_error(
        cli.run("apply", "--proof", proof, "--attestation", attestation, key=OTHER_KEY), "NotAttestedBorrower"
    )
    terms = cli.json("credit", "terms", key=None)
    assert terms["version"] == 1 and terms["max_limit"] > terms["min_limit"]
    assert cli.json("credit", "terms", "--max-rate-bps", "3500")["version"] == 2
    assert_clean_error(
        cli.run("apply", "--proof", proof, "--attestation", attestation, "--terms-version", "1", key=BORROWER_KEY),
        "TermsChanged",
    )
    assert_clean_error(cli.run("credit", "terms", "--min-limit", "999999999"), "InvalidTerms")
    assert_clean_error(cli.run("credit", "attester", "0x1234"), "not an address")
    applied = cli.json("apply", "--proof", proof, "--attestation", attestation, key=BORROWER_KEY)
    assert applied["borrower"] == BORROWER and applied["attester"] == BANK
    assert applied["commitment"] == commitment
    status = cli.json("credit", "status", BORROWER, key=None)
    assert (status["limit"], status["rate_bps"]) == (applied["limit"], applied["rate_bps"])
    assert status["probability_of_default_bps"] == applied["probability_of_default_bps"]
    assert_clean_error(
        cli.run("apply", "--proof", proof, "--attestation", attestation, key=BORROWER_KEY), "CommitmentAlreadyUsed"
    )

    # an attester the lender does not trust, then the bank removed: refused by name, for free
    again = _offline(work, "commit", "credit", "--input", features, "--out", work / "again.json")
    fresh = again.stdout.strip()
    assert fresh != commitment, "a fresh salt makes a fresh commitment"
    untrusted = work / "untrusted.json"
    cli.ok("attest", "--commitment", fresh, "--borrower", BORROWER, "--out", untrusted, key=OTHER_KEY)
    fresh_proof = work / "again.proof.json"
    assert _offline(work, "prove", "credit", "--input", work / "again.json", "--out", fresh_proof).code == 0
    assert_clean_error(
        cli.run("apply", "--proof", fresh_proof, "--attestation", untrusted, key=BORROWER_KEY), "UntrustedAttester"
    )
    # the first proof with the fresh attestation: the proof's hash is not the attested one
    trusted = work / "trusted.json"
    cli.ok("attest", "--commitment", fresh, "--borrower", BORROWER, "--out", trusted, key=SECOND_KEY)
    assert_clean_error(cli.run("apply", "--proof", proof, "--attestation", trusted, key=BORROWER_KEY), "InputMismatch")
    cli.ok("credit", "attester", BANK, "--remove")
    assert_clean_error(
        cli.run("apply", "--proof", fresh_proof, "--attestation", trusted, key=BORROWER_KEY), "UntrustedAttester"
    )


def test_bad_inputs_are_one_line_errors(module_chain: Chain, built: Path, tmp_path: Path) -> None:
    assert module_chain.node is not None
    work = tmp_path / "work"
    shutil.copytree(built / "circuits" / "credit", work / "circuits" / "credit")
    features = work / "features.json"
    features.write_text(json.dumps({**FEATURES, "delinquencies": 1.5}))
    assert_clean_error(_offline(work, "commit", "credit", "--input", features), "delinquencies", "whole number")
    features.write_text(json.dumps({"income": 1}))
    assert_clean_error(_offline(work, "commit", "credit", "--input", features), "missing debt_to_income")
    features.write_text("[1, 2]")
    assert_clean_error(_offline(work, "commit", "credit", "--input", features), "one JSON object")
    assert not (work / "features.salted.json").exists(), "nothing is written for a refused input"

    cli = ChainCli(work, module_chain.node.rpc_url)
    cli.ok("deploy", "credit")
    assert_clean_error(
        cli.run("attest", "--commitment", "banana", "--borrower", BORROWER, key=SECOND_KEY), "not a number"
    )
    assert_clean_error(
        cli.run("attest", "--commitment", "0x01", "--borrower", "0x1234", key=SECOND_KEY), "not an address"
    )
    assert_clean_error(
        cli.run("attest", "--commitment", "0x01", "--borrower", BORROWER, "--expiry", "soon", key=SECOND_KEY),
        "neither a unix time nor a duration",
    )
    broken = work / "broken.json"
    broken.write_text(json.dumps({"commitment": "0x01"}))
    assert_clean_error(
        cli.run("apply", "--proof", work / "none.json", "--attestation", broken, key=BORROWER_KEY), "broken.json"
    )
    assert_clean_error(
        run_cli("apply", "--proof", "p.json", "--attestation", broken, "--workdir", work, env={"PROVER_RPC_URL": ""}),
        "outlasts one command",
    )


def test_demo_credit_prices_two_borrowers_and_refuses_a_borrowed_attestation(built: Path, tmp_path: Path) -> None:
    work = tmp_path / "demo"
    shutil.copytree(built / "circuits" / "credit", work / "circuits" / "credit")
    result = run_cli("demo", "credit", "--workdir", work, "--json")
    assert result.code == 0, result.stderr[-3000:]
    document = json.loads(result.stdout)
    first, second = document["applications"]
    assert first["borrower"] != second["borrower"]
    assert first["probability_of_default_bps"] < second["probability_of_default_bps"]
    assert (first["limit"], first["rate_bps"]) != (second["limit"], second["rate_bps"])
    assert document["borrowed_attestation"] == "refused: NotAttestedBorrower"
    scan = document["privacy_scan"]
    assert scan["clean"] and scan["findings"] == []
    assert scan["transactions"] >= 3 and scan["logs"] >= 3 and scan["storage_slots"] > 0 and scan["patterns"] > 50
