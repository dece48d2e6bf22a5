"""Private inputs on a real anvil, through the library the CLI drives: a borrower's salted
features are committed off chain, an attester signs the commitment (EIP-712), the borrower
proves and applies to a real CreditLine (compiled by the project's solc, verified by the
credit circuit's real verifier), and every way to cheat is refused by name, both by
`apply`'s own checks (nothing sent) and by the contract itself. Then everything the chain
keeps is scanned for the features, and a deliberate leak shows the scan can see one.

The set-up (deployments, commitments, every proof) is made once per module by
`credit_env`; each test runs on a snapshot of it and leaves the chain as it found it.
"""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode
from web3.contract import Contract

from models.credit import N_FEATURES, SALT_WORDS
from prover.consumers.base import Pin, consumer_contract, deploy_consumer
from prover.consumers.credit.attestation import SECP256K1_N, Attestation, attest, recovered_attester
from prover.consumers.credit.commitment import Commitment, commit, commitment_of_file, sample_felts
from prover.consumers.credit.consumer import CreditLineConsumer
from prover.consumers.credit.demo import BORROWERS as DEMO_BORROWERS
from prover.consumers.credit.line import DEFAULT_TERMS, apply, read_terms, set_attester
from prover.consumers.credit.privacy import Secrets, exposure_of, scan, secrets_of
from prover.errors import ChainError, TransactionReverted
from prover.evm.client import Chain, call, send_transaction
from prover.evm.node import advance_time
from prover.evm.verifier import deploy_verifier
from prover.proving.circuit import Circuit, open_circuit
from prover.proving.field import FIELD_MODULUS, from_signed, to_signed
from prover.proving.proofs import Proof
from prover.registry.contract import open_registry
from prover.registry.versions import register

pytestmark = pytest.mark.chain

#: two profiles a lender prices apart (the demo's: about 1.6 % and 14 % PD, both approved)
BORROWERS: dict[str, dict[str, float]] = {
    "steady": DEMO_BORROWERS["established"],
    "stretched": DEMO_BORROWERS["stretched"],
}
#: attestations the fixture signs are good for a year of chain time
YEAR = 365 * 86400


@dataclass(frozen=True)
class CreditEnv:
    chain: Chain  # the lender: owns the CreditLine (dev account 0)
    circuit: Circuit
    line: Contract
    bank: Chain  # the trusted attester
    stranger: Chain  # an attester nobody trusts
    borrowers: dict[str, Chain]  # "steady", "stretched" (BORROWERS' profiles) and "other"
    trust_tx: str  # the lender's setAttester(bank, true)
    #: "steady" and "steady again" (the same features, two salts) and "stretched"
    commitments: dict[str, Commitment]
    #: one proof per commitment, and "steady fresh": the steady salted file proved a second time
    proofs: dict[str, Proof]

    def attestation(
        self, key: str, borrower: str | None = None, *, expiry: int | None = None, signer: Chain | None = None
    ) -> Attestation:
        """The attester's signature over commitment `key` for `borrower` (its owner by default)."""
        owner = "stretched" if key == "stretched" else "steady"
        if expiry is None:
            expiry = latest_time(self.chain) + YEAR
        return attest(
            (signer or self.bank).signer,
            self.commitments[key].commitment,
            self.borrowers[borrower or owner].address,
            expiry,
            self.chain.chain_id,
            self.line.address,
        )


def latest_time(chain: Chain) -> int:
    return int(chain.w3.eth.get_block("latest")["timestamp"])


@pytest.fixture(scope="module")
def credit_env(module_chain: Chain, built: Path, tmp_path_factory: pytest.TempPathFactory) -> CreditEnv:
    """Verifier, registry (credit registered), CreditLine trusting one bank; three salted
    files committed and four proofs made, once."""
    chain = module_chain
    work = tmp_path_factory.mktemp("credit") / "work"
    shutil.copytree(built / "circuits" / "credit", work / "circuits" / "credit")
    circuit = open_circuit("credit", work)
    assert chain.node is not None
    keys = [account.private_key for account in chain.node.dev_accounts()[1:6]]
    bank, stranger, steady, stretched, other = (chain.signed_by(key) for key in keys)

    verifier = deploy_verifier(chain, circuit)
    registry = open_registry(chain, work, deploy_if_missing=True)
    registration = register(chain, registry, circuit, verifier=verifier.address)
    consumer = CreditLineConsumer()
    deployed = deploy_consumer(chain, consumer, circuit, Pin(verifier.address, registry.address, registration.model_id))
    line = consumer_contract(chain, consumer, circuit, deployed.address)
    trust_tx = set_attester(chain, line, bank.address, True)

    commitments: dict[str, Commitment] = {}
    for key, profile in (("steady", "steady"), ("steady again", "steady"), ("stretched", "stretched")):
        stem = key.replace(" ", "-")
        features = work / f"{stem}.features.json"
        features.write_text(json.dumps(BORROWERS[profile]))
        commitments[key] = commit(circuit, features, work / f"{stem}.salted.json")
    proofs = {
        key: circuit.prove(commitments[source].salted_file, work / f"{key.replace(' ', '-')}.proof.json").proof
        for key, source in (
            ("steady", "steady"),
            ("steady fresh", "steady"),
            ("steady again", "steady again"),
            ("stretched", "stretched"),
        )
    }
    return CreditEnv(
        chain,
        circuit,
        line,
        bank,
        stranger,
        {"steady": steady, "stretched": stretched, "other": other},
        trust_tx,
        commitments,
        proofs,
    )


# --- the commitment ---------------------------------------------------------------------------


def test_the_commitment_is_the_hash_the_circuit_exposes(credit_env: CreditEnv) -> None:
    env = credit_env
    for key, source in (("steady", "steady"), ("steady fresh", "steady"), ("steady again", "steady again")):
        made = env.commitments[source]
        assert env.proofs[key].instances[0] == made.commitment, key
        assert commitment_of_file(env.circuit, made.salted_file) == made.commitment
        assert made.hex == f"0x{made.commitment:064x}" and made.commitment < FIELD_MODULUS
    assert len(env.proofs["steady"].instances) == 2  # [commitment, PD]: no feature is public


def test_committing_twice_salts_twice(credit_env: CreditEnv) -> None:
    env = credit_env
    first, again = env.commitments["steady"], env.commitments["steady again"]
    assert first.commitment != again.commitment
    assert first.features == again.features == {name: float(v) for name, v in BORROWERS["steady"].items()}
    scale = env.circuit.info.input_scales[0]
    felts = [sample_felts(env.circuit.load_input(made.salted_file), scale) for made in (first, again)]
    assert len(felts[0]) == N_FEATURES + SALT_WORDS
    assert felts[0][:N_FEATURES] == felts[1][:N_FEATURES], "the same features score the same"
    assert felts[0][N_FEATURES:] != felts[1][N_FEATURES:], "but every commit draws a fresh salt"
    for made in env.commitments.values():
        assert stat.S_IMODE(made.salted_file.stat().st_mode) == 0o600, "the salted file is its owner's secret"


# --- applications -----------------------------------------------------------------------------


def expected_pd_bps(circuit: Circuit, proof: Proof) -> int:
    """The contract's reading of the proof's PD: signed fixed point, saturated to [0, 1], in bps."""
    pd, one = to_signed(proof.instances[1]), 1 << circuit.info.output_scales[0]
    return 0 if pd <= 0 else min(pd, one) * 10_000 // one


def expected_terms(pd_bps: int) -> tuple[int, int]:
    """DEFAULT_TERMS's line for a PD, computed here rather than read from `quote`."""
    min_limit, max_limit, min_rate, max_rate, max_default = DEFAULT_TERMS
    if pd_bps >= max_default:
        return 0, 0
    return max_limit - (max_limit - min_limit) * pd_bps // max_default, min_rate + (
        max_rate - min_rate
    ) * pd_bps // max_default


def test_two_borrowers_get_the_terms_their_proven_scores_give(credit_env: CreditEnv) -> None:
    env = credit_env
    lines = {}
    for profile in ("steady", "stretched"):
        borrower = env.borrowers[profile]
        application = apply(borrower, env.line, env.attestation(profile), env.proofs[profile])
        assert (application.borrower, application.attester) == (borrower.address, env.bank.address)
        assert application.commitment == env.commitments[profile].commitment
        assert application.pd_bps == expected_pd_bps(env.circuit, env.proofs[profile])
        assert (application.limit, application.rate_bps) == expected_terms(application.pd_bps)

        receipt = env.chain.w3.eth.get_transaction_receipt(application.tx_hash)  # type: ignore[arg-type]
        assert receipt["status"] == 1 and application.gas_used == receipt["gasUsed"]
        (event,) = env.line.events.CreditTermsSet().process_receipt(receipt)
        args = event["args"]
        terms = read_terms(env.chain, env.line, borrower.address)
        assert (args["borrower"], args["attester"], args["commitment"]) == (
            borrower.address,
            env.bank.address,
            env.commitments[profile].commitment,
        )
        assert (terms.pd_bps, terms.limit, terms.rate_bps) == (args["pdBps"], args["limit"], args["rateBps"])
        assert terms.updated_at == env.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
        assert call(env.chain, env.line, "commitmentUsed", application.commitment)
        lines[profile] = terms

    steady, stretched = lines["steady"], lines["stretched"]
    assert not steady.declined, steady
    assert stretched.pd_bps > steady.pd_bps, (steady, stretched)
    assert stretched.declined or (stretched.limit < steady.limit and stretched.rate_bps > steady.rate_bps)
    assert (steady.limit, steady.rate_bps) != (stretched.limit, stretched.rate_bps)
    assert read_terms(env.chain, env.line, env.borrowers["other"].address).updated_at == 0  # never applied


# --- refusals, by name, before sending and by the contract ------------------------------------


Case = tuple[Chain, Attestation, Proof]


def _wrong_salt(env: CreditEnv) -> Case:
    """The same features committed again (a new salt) and proved: not the attested hash."""
    return env.borrowers["steady"], env.attestation("steady"), env.proofs["steady again"]


def _other_features(env: CreditEnv) -> Case:
    """Attested on the steady features, proved over the stretched borrower's salted file."""
    return env.borrowers["steady"], env.attestation("steady"), env.proofs["stretched"]


def _another_borrowers_attestation(env: CreditEnv) -> Case:
    """The steady borrower's attestation and proof, sent from another account."""
    return env.borrowers["other"], env.attestation("steady"), env.proofs["steady"]


def _expired_before(env: CreditEnv) -> Case:
    """Signed with an expiry already past."""
    return env.borrowers["steady"], env.attestation("steady", expiry=latest_time(env.chain) - 1), env.proofs["steady"]


def _expired_since(env: CreditEnv) -> Case:
    """Good for a minute when signed; two minutes pass."""
    attestation = env.attestation("steady", expiry=latest_time(env.chain) + 60)
    advance_time(env.chain.w3, 120)
    return env.borrowers["steady"], attestation, env.proofs["steady"]


def _untrusted_attester(env: CreditEnv) -> Case:
    """A well-formed signature by an attester the lender never trusted."""
    return env.borrowers["steady"], env.attestation("steady", signer=env.stranger), env.proofs["steady"]


def _edited_expiry(env: CreditEnv) -> Case:
    """A valid attestation whose expiry was pushed out after signing: it recovers a stranger."""
    valid = env.attestation("steady")
    forged = valid.model_copy(update={"expiry": valid.expiry + YEAR})
    assert recovered_attester(valid) == env.bank.address
    assert recovered_attester(forged) not in (None, env.bank.address)
    return env.borrowers["steady"], forged, env.proofs["steady"]


def _edited_commitment(env: CreditEnv) -> Case:
    """The bank signed the first commitment; the file now names the second (proved, unattested)."""
    forged = env.attestation("steady").model_copy(update={"commitment": env.commitments["steady again"].hex})
    assert forged.commitment_value == env.proofs["steady again"].instances[0]
    return env.borrowers["steady"], forged, env.proofs["steady again"]


def _truncated_signature(env: CreditEnv) -> Case:
    valid = env.attestation("steady")
    return env.borrowers["steady"], valid.model_copy(update={"signature": valid.signature[:-2]}), env.proofs["steady"]


def _empty_signature(env: CreditEnv) -> Case:
    return (
        env.borrowers["steady"],
        env.attestation("steady").model_copy(update={"signature": "0x"}),
        env.proofs["steady"],
    )


def _garbage_signature(env: CreditEnv) -> Case:
    """65 bytes that are no signature: r = s = 0xab..., v = 0xab."""
    garbage = env.attestation("steady").model_copy(update={"signature": "0x" + "ab" * 65})
    return env.borrowers["steady"], garbage, env.proofs["steady"]


def _malleable_signature(env: CreditEnv) -> Case:
    """The valid signature's high-s twin (s -> n - s, v flipped): ecrecover takes it, OpenZeppelin does not."""
    valid = env.attestation("steady")
    raw = valid.signature_bytes()
    s = int.from_bytes(raw[32:64], "big")
    twin = raw[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - raw[64]])  # 27 <-> 28
    return env.borrowers["steady"], valid.model_copy(update={"signature": "0x" + twin.hex()}), env.proofs["steady"]


def _replayed(env: CreditEnv) -> Case:
    """A commitment that priced a line already, with a fresh proof of the same salted file."""
    apply(env.borrowers["steady"], env.line, env.attestation("steady"), env.proofs["steady"])
    fresh = env.proofs["steady fresh"]
    assert fresh.raw != env.proofs["steady"].raw and fresh.instances == env.proofs["steady"].instances
    return env.borrowers["steady"], env.attestation("steady"), fresh


REFUSALS: list[Any] = [
    ("InputMismatch", _wrong_salt),
    ("InputMismatch", _other_features),
    ("NotAttestedBorrower", _another_borrowers_attestation),
    ("AttestationExpired", _expired_before),
    ("AttestationExpired", _expired_since),
    ("UntrustedAttester", _untrusted_attester),
    ("UntrustedAttester", _edited_expiry),
    ("UntrustedAttester", _edited_commitment),
    ("InvalidSignature", _truncated_signature),
    ("InvalidSignature", _empty_signature),
    ("InvalidSignature", _garbage_signature),
    ("InvalidSignature", _malleable_signature),
    ("CommitmentAlreadyUsed", _replayed),
]


def _line_state(env: CreditEnv, borrower: Chain, attestation: Attestation) -> tuple[Any, ...]:
    return (
        read_terms(env.chain, env.line, borrower.address),
        read_terms(env.chain, env.line, attestation.borrower),
        call(env.chain, env.line, "commitmentUsed", attestation.commitment_value),
        env.chain.w3.eth.get_transaction_count(borrower.signer.address),
        env.chain.w3.eth.block_number,
    )


def _case_id(case: Any) -> str | None:
    return case.__name__.strip("_") if callable(case) else None


@pytest.mark.parametrize(("name", "case"), REFUSALS, ids=_case_id)
def test_a_bad_application_is_refused_by_name_before_sending_and_on_chain(
    credit_env: CreditEnv, name: str, case: Callable[[CreditEnv], Case]
) -> None:
    env = credit_env
    borrower, attestation, proof = case(env)
    before = _line_state(env, borrower, attestation)

    with pytest.raises(ChainError) as checked:
        apply(borrower, env.line, attestation, proof, check=True)
    assert not isinstance(checked.value, TransactionReverted), "check=True must refuse before sending"
    assert checked.value.message.startswith(f"{name}:"), checked.value.message
    assert _line_state(env, borrower, attestation) == before, "nothing sent, nothing changed"

    with pytest.raises(TransactionReverted) as reverted:
        apply(borrower, env.line, attestation, proof, check=False)
    assert reverted.value.error_name == name, (reverted.value.error_name, reverted.value.error_args)
    assert _line_state(env, borrower, attestation) == before


def test_the_same_application_from_its_borrower_is_accepted(credit_env: CreditEnv) -> None:
    """The control for the refusals: their shared ingredients are good on their own."""
    env = credit_env
    application = apply(env.borrowers["steady"], env.line, env.attestation("steady"), env.proofs["steady fresh"])
    assert application.commitment == env.commitments["steady"].commitment


# --- privacy ----------------------------------------------------------------------------------


def borrower_secrets(env: CreditEnv, key: str) -> Secrets:
    """Every encoding of a borrower's features and salt, from their salted file."""
    made = env.commitments[key]
    sample = env.circuit.load_input(made.salted_file)
    fixed = [round(float(value) * (1 << made.input_scale)) for value in sample[0].ravel()]
    assert [from_signed(value) for value in fixed] == sample_felts(sample, made.input_scale)
    return secrets_of(made.features, fixed, N_FEATURES)


def test_nothing_the_chain_keeps_betrays_the_features_and_a_leak_would_be_seen(credit_env: CreditEnv) -> None:
    env = credit_env
    hashes = [env.trust_tx]
    for profile in ("steady", "stretched"):
        hashes.append(apply(env.borrowers[profile], env.line, env.attestation(profile), env.proofs[profile]).tx_hash)
    keys = ("steady", "steady again", "stretched")
    found = [borrower_secrets(env, key) for key in keys]
    secrets = Secrets([p for s in found for p in s.patterns], [k for s in found for k in s.skipped])
    labels = {pattern.label for pattern in secrets.patterns}
    assert {"income as a word", "salted tensor as an ABI array", "features as an ABI array"} <= labels

    report = scan(exposure_of(env.chain, hashes), secrets)
    assert report.clean, report.findings
    assert report.transactions == len(hashes)
    assert report.logs > 0 and report.storage_slots > 0, report.summary()

    # the control: the same scan must see a borrower who puts their secrets in calldata
    steady = env.borrowers["steady"]
    sample = env.circuit.load_input(env.commitments["steady"].salted_file)
    felts = sample_felts(sample, env.commitments["steady"].input_scale)
    income = int(BORROWERS["steady"]["income"])
    leaks = {
        "felts": send_transaction(
            steady, "leak", [], {"to": env.stranger.address, "data": "0x" + encode(["uint256[]"], [felts]).hex()}
        ),
        "income": send_transaction(
            steady, "leak", [], {"to": env.stranger.address, "data": "0x12345678" + income.to_bytes(32, "big").hex()}
        ),
    }
    leak_hashes = {what: receipt["transactionHash"].to_0x_hex() for what, receipt in leaks.items()}
    leaked = scan(exposure_of(env.chain, hashes + list(leak_hashes.values())), secrets)
    assert not leaked.clean
    by_place: dict[str, set[str]] = {}
    for finding in leaked.findings:
        by_place.setdefault(finding.place, set()).add(finding.label)
    assert set(by_place) == {f"calldata {tx_hash}" for tx_hash in leak_hashes.values()}, by_place
    in_felts, in_income = by_place[f"calldata {leak_hashes['felts']}"], by_place[f"calldata {leak_hashes['income']}"]
    assert {"salted tensor as an ABI array", "features as an ABI array"} <= in_felts, in_felts
    # each salt word a felt too large to pass for an ABI offset (a negative one) is searched alone
    alone = {f"salt word {k} as a word" for k in range(SALT_WORDS) if to_signed(felts[N_FEATURES + k]) < 0}
    assert alone and alone <= in_felts, (alone, in_felts)
    assert in_income == {"income as a word"}, in_income
    assert "FOUND" in leaked.summary()
