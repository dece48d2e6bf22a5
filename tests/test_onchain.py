"""The on-chain path on a real anvil: fee updates, on/off-chain verification, decoding, CLI.

One anvil, one verifier, one pool and one proof per module (proving is the slow part);
every test starts from the same chain state through anvil's snapshot/revert. The CLI
tests run the installed `prover` script, each with its own embedded anvil.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ezkl
import numpy as np
import pytest
from conftest import run_cli
from contract_env import contract_artifact, fee_pool

from models.fee import FEE_TIERS_BPS, WINDOW, fee_bucket, simulate_prices
from prover.consumers.base import NO_REGISTRY, prove_request
from prover.consumers.fee import FeeConsumer, PoolParams
from prover.errors import TransactionReverted
from prover.evm.client import Chain, call, contract_at, deploy, transact
from prover.evm.node import advance_time
from prover.evm.solc import EIP170_LIMIT, load_artifact
from prover.evm.verifier import deploy_verifier
from prover.proving.circuit import Circuit, open_circuit
from prover.proving.field import FIELD_MODULUS, felt_from_hex
from prover.proving.proofs import Proof

pytestmark = pytest.mark.chain

MAX_ABS = 2**128
SEED = 7
# initial 60, target clamped to >= 10, at most 20 per update: a calm proof exercises both bounds
PARAMS = PoolParams(initial_fee_bps=60, min_fee_bps=10, max_fee_bps=100, max_step_bps=20, min_update_interval_s=60)


@dataclass(frozen=True)
class OnchainEnv:
    chain: Chain
    circuit: Circuit
    verifier: Any
    pool: Any
    harness: Any
    epoch: int
    proof: Proof
    document: dict[str, Any]


@pytest.fixture(scope="module")
def work(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A module-private, writable copy of the built workdir (deploys and verifies write to it)."""
    target = tmp_path_factory.mktemp("onchain") / "work"
    shutil.copytree(built, target)
    return target


@pytest.fixture(scope="module")
def onchain_env(module_chain: Chain, work: Path) -> OnchainEnv:
    """Verifier, pool (9 calm prices recorded) and harness on the session's anvil, and one proof of the pool state."""
    chain, circuit = module_chain, open_circuit("fee", work)
    verifier = deploy_verifier(chain, circuit)
    pool = fee_pool(chain, circuit, verifier.address, PARAMS)
    harness_artifact = contract_artifact(work, "ConsumerHarness", tests=True)
    harness = contract_at(
        chain, deploy(chain, harness_artifact, verifier.address, NO_REGISTRY, 0).address, harness_artifact["abi"]
    )
    verifier_abi = load_artifact(work / "out" / "fee" / "Halo2Verifier.json", "prover verifier fee")["abi"]
    for price in simulate_prices(WINDOW + 1, SEED, "calm")[1:]:
        transact(chain, pool, "recordPrice", price)
    request, result = prove_request(chain, FeeConsumer(PARAMS), circuit, pool, work.parent / "pool.proof.json")
    document = json.loads(result.proof_path.read_text())
    return OnchainEnv(
        chain,
        circuit,
        contract_at(chain, verifier.address, verifier_abi),
        pool,
        harness,
        request.context["epoch"],
        result.proof,
        document,
    )


def le_hex(value: int) -> str:
    """A felt as ezkl writes it: 32 little-endian bytes in hex."""
    return value.to_bytes(32, "little").hex()


def decode_signed(felt: int) -> int:
    """The contract's `_decodeSigned`, in Python."""
    return felt if felt < FIELD_MODULUS // 2 else felt - FIELD_MODULUS


def write_proof(path: Path, document: dict[str, Any], raw: bytes, instances: list[int]) -> Path:
    """A proof file with consistent proof/hex_proof fields and the given instances."""
    changed = {
        **document,
        "proof": list(raw),
        "hex_proof": "0x" + raw.hex(),
        "instances": [[le_hex(v) for v in instances]],
    }
    path.write_text(json.dumps(changed))
    return path


def onchain_valid(onchain_env: OnchainEnv, raw: bytes, instances: list[int]) -> bool:
    """verifyProof by eth_call; a revert counts as invalid, like a `false` return."""
    try:
        return bool(call(onchain_env.chain, onchain_env.verifier, "verifyProof", raw, instances))
    except TransactionReverted:
        return False


def model_fee(old: int, volatility_felt: int, output_scale: int, params: PoolParams) -> int:
    """What the policy says: the model's bucket tier, clamped, then moved at most one step."""
    volatility = decode_signed(volatility_felt) / 2**output_scale
    target = FEE_TIERS_BPS[int(fee_bucket(np.asarray([volatility]))[0])]
    target = min(max(target, params.min_fee_bps), params.max_fee_bps)
    return old + max(-params.max_step_bps, min(params.max_step_bps, target - old))


# --- the happy path ---------------------------------------------------------------------


def test_valid_update_moves_fee_as_the_model_says(onchain_env: OnchainEnv) -> None:
    """The whole point of the pool: a valid proof moves the fee exactly as the bounded policy says."""
    chain, pool = onchain_env.chain, onchain_env.pool
    assert onchain_env.epoch == WINDOW == call(chain, pool, "currentEpoch")
    instances = onchain_env.proof.instances
    assert instances[:-1] == [int(v) for v in call(chain, pool, "expectedInputs")]
    old = call(chain, pool, "feeBps")
    assert old == PARAMS.initial_fee_bps
    advance_time(chain.w3, PARAMS.min_update_interval_s + 1)

    receipt = transact(chain, pool, "updateFee", onchain_env.epoch, onchain_env.proof.raw, instances)

    events = pool.events.FeeUpdated().process_receipt(receipt)
    assert len(events) == 1
    args = events[0]["args"]
    expected = model_fee(old, instances[-1], onchain_env.circuit.info.output_scales[0], PARAMS)
    assert (args["epoch"], args["oldFeeBps"], args["newFeeBps"]) == (onchain_env.epoch, old, expected)
    assert args["volatility"] == decode_signed(instances[-1])
    assert expected != old, "the calm proof should move the fee, or this test checks nothing"
    new = call(chain, pool, "feeBps")
    assert new == expected
    assert PARAMS.min_fee_bps <= new <= PARAMS.max_fee_bps
    assert abs(new - old) <= PARAMS.max_step_bps
    assert call(chain, pool, "lastUpdateEpoch") == onchain_env.epoch
    block = chain.w3.eth.get_block(receipt["blockNumber"])
    assert call(chain, pool, "lastUpdateTime") == block["timestamp"]


# --- on-chain and off-chain verification agree --------------------------------------------


def test_onchain_and_offchain_verification_agree(onchain_env: OnchainEnv, tmp_path: Path) -> None:
    """Two verifiers of one vk must give one answer, or a proof valid off chain could fail on chain (or worse)."""
    raw, instances = onchain_env.proof.raw, onchain_env.proof.instances
    assert onchain_valid(onchain_env, raw, instances) is True
    assert onchain_env.circuit.verify(onchain_env.proof.path).valid is True

    rng = random.Random(20240601)
    outcomes = []
    for k in range(50):
        mutated_raw, mutated_instances = bytearray(raw), list(instances)
        if k % 2 == 0:
            position = rng.randrange(len(raw))
            mutated_raw[position] ^= rng.randrange(1, 256)
            what = f"proof byte {position}"
        else:
            index = rng.randrange(len(instances))
            old = instances[index]
            candidates = [
                rng.randrange(FIELD_MODULUS),
                (old + 1) % FIELD_MODULUS,
                (old - 1) % FIELD_MODULUS,
                FIELD_MODULUS - 1,
                0,
                instances[(index + 1) % len(instances)],
            ]
            mutated_instances[index] = next(c for c in rng.sample(candidates, len(candidates)) if c != old)
            what = f"instance {index}"
        assert (bytes(mutated_raw), mutated_instances) != (raw, instances)
        offchain = onchain_env.circuit.verify(
            write_proof(tmp_path / f"m{k}.json", onchain_env.document, bytes(mutated_raw), mutated_instances)
        )
        onchain = onchain_valid(onchain_env, bytes(mutated_raw), mutated_instances)
        outcomes.append((what, onchain, offchain.valid))
    disagreements = [o for o in outcomes if o[1] != o[2]]
    assert not disagreements, disagreements
    accepted = [o for o in outcomes if o[1]]
    assert not accepted, f"mutated proofs accepted: {accepted}"


# --- signed decoding of ezkl felts ---------------------------------------------------------


@pytest.mark.parametrize("x", [-3.5, -1 / 256, 0.0, 1 / 256, 2.75])
def test_decode_signed_reads_ezkl_felts(onchain_env: OnchainEnv, x: float) -> None:
    """The contract must read negative, zero and positive model outputs as ezkl wrote them."""
    felt = ezkl.float_to_felt(x, 8)
    value = felt_from_hex(felt)
    assert value < FIELD_MODULUS
    assert ezkl.felt_to_int(felt) == round(x * 256)
    assert call(onchain_env.chain, onchain_env.harness, "decodeSigned", value) == round(x * 256)
    assert call(onchain_env.chain, onchain_env.harness, "encodeSigned", round(x * 256)) == value


def test_decode_signed_reads_the_proofs_instances(onchain_env: OnchainEnv) -> None:
    """Every felt of a real proof (negative inputs, positive output) decodes to ezkl's integer."""
    for felt in onchain_env.document["instances"][0]:
        assert call(onchain_env.chain, onchain_env.harness, "decodeSigned", felt_from_hex(felt)) == ezkl.felt_to_int(
            felt
        )


@pytest.mark.parametrize("felt", [MAX_ABS, FIELD_MODULUS // 2, FIELD_MODULUS - MAX_ABS, FIELD_MODULUS, 2**256 - 1])
def test_decode_signed_rejects_the_middle_of_the_field(onchain_env: OnchainEnv, felt: int) -> None:
    """A felt that is neither a small positive nor a small negative is no honest output: revert."""
    with pytest.raises(TransactionReverted) as info:
        call(onchain_env.chain, onchain_env.harness, "decodeSigned", felt)
    assert info.value.error_name == "OutputOutOfRange"
    assert info.value.error_args == (felt,)


@pytest.mark.parametrize("value", [0, 1, -1, 255, -896, MAX_ABS - 1, -(MAX_ABS - 1)])
def test_encode_signed_round_trips(onchain_env: OnchainEnv, value: int) -> None:
    """Encode and decode are inverses on the whole decodable range, boundaries included."""
    felt = call(onchain_env.chain, onchain_env.harness, "encodeSigned", value)
    assert felt == value % FIELD_MODULUS
    assert call(onchain_env.chain, onchain_env.harness, "decodeSigned", felt) == value


# --- the CLI -----------------------------------------------------------------------------


def test_cli_verify_onchain_accepts_a_valid_proof(onchain_env: OnchainEnv, work: Path) -> None:
    """`verify --onchain` is how a user checks a proof against the real Solidity verifier."""
    result = run_cli("verify", "fee", "--proof", onchain_env.proof.path, "--onchain", "--json", "--workdir", work)
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["valid"] is True
    assert isinstance(document["verify_gas"], int) and document["verify_gas"] > 0


def test_cli_verify_onchain_rejects_a_flipped_byte(onchain_env: OnchainEnv, work: Path, tmp_path: Path) -> None:
    """One changed byte must make the on-chain verifier say no, with exit code 1."""
    raw = bytearray(onchain_env.proof.raw)
    raw[len(raw) // 3] ^= 0x10
    bad = write_proof(tmp_path / "flipped.json", onchain_env.document, bytes(raw), onchain_env.proof.instances)
    result = run_cli("verify", "fee", "--proof", bad, "--onchain", "--json", "--workdir", work)
    assert result.code == 1, result.stderr
    assert json.loads(result.stdout)["valid"] is False
    assert "Traceback" not in result.stderr


def test_cli_reusable_verifier_with_vka(onchain_env: OnchainEnv, work: Path, tmp_path: Path) -> None:
    """The reusable verifier + per-model VKA (for verifiers over EIP-170) accepts and rejects like the plain one."""
    good = run_cli(
        "verify", "fee", "--proof", onchain_env.proof.path, "--onchain", "--reusable", "--json", "--workdir", work
    )
    assert good.code == 0, good.stderr
    assert json.loads(good.stdout)["verify_gas"] > 0
    assert (work / "out" / "fee" / "vka.bin").is_file()
    raw = bytearray(onchain_env.proof.raw)
    raw[len(raw) // 2] ^= 0x01
    bad = write_proof(tmp_path / "flipped.json", onchain_env.document, bytes(raw), onchain_env.proof.instances)
    rejected = run_cli("verify", "fee", "--proof", bad, "--onchain", "--reusable", "--json", "--workdir", work)
    assert rejected.code == 1, rejected.stderr
    assert json.loads(rejected.stdout)["valid"] is False


def test_cli_verifier_fits_and_models_do_not_collide(work: Path) -> None:
    """A verifier over EIP-170 cannot be deployed, and one model's verifier must never overwrite another's."""
    fee = run_cli("verifier", "fee", "--json", "--workdir", work)
    assert fee.code == 0, fee.stderr
    fee_doc = json.loads(fee.stdout)
    fee_artifact = work / "out" / "fee" / "Halo2Verifier.json"
    assert Path(fee_doc["artifact"]) == fee_artifact and fee_artifact.is_file()
    assert 0 < fee_doc["runtime_bytes"] < EIP170_LIMIT == 24_576 and fee_doc["fits"] is True
    fee_bytes = fee_artifact.read_bytes()
    compiled = json.loads(fee_bytes)
    assert len(bytes.fromhex(compiled["deployedBytecode"].removeprefix("0x"))) == fee_doc["runtime_bytes"]

    digits = run_cli("verifier", "digits", "--json", "--workdir", work)
    assert digits.code == 0, digits.stderr
    digits_doc = json.loads(digits.stdout)
    digits_artifact = work / "out" / "digits" / "Halo2Verifier.json"
    assert Path(digits_doc["artifact"]) == digits_artifact and digits_artifact.is_file()
    assert digits_doc["runtime_bytes"] < EIP170_LIMIT
    assert fee_artifact.read_bytes() == fee_bytes, "building digits' verifier changed fee's"
    assert json.loads(digits_artifact.read_text())["deployedBytecode"] != compiled["deployedBytecode"]


def test_cli_demo_runs_the_whole_story(built: Path, tmp_path: Path) -> None:
    """`prover demo` is the main job: deploy, calm and volatile swaps, two verified fee updates."""
    demo = tmp_path / "demo"
    shutil.copytree(built / "circuits" / "fee", demo / "circuits" / "fee")  # the build stage is then cached
    result = run_cli("demo", "--json", "--workdir", demo)
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["verifier_deploy_gas"] > 0 and document["pool_deploy_gas"] > 0
    # the fee model is registered before the pool, and the pool checks that registry
    assert document["model_id"] == 1 and document["version"] == 1 and document["register_gas"] > 0
    record = json.loads((demo / "deployments" / "31337.json").read_text())["contracts"]
    assert record["fee.consumer"]["registry"] == document["registry"] == record["ModelRegistry"]["address"]
    assert record["fee.model"]["versions"]["1"]["verifier"] == document["verifier"]
    updates = document["updates"]
    assert [u["regime"] for u in updates] == ["calm", "volatile"]
    defaults = PoolParams()
    for update in updates:
        assert update["gas_used"] > 0 and update["verify_gas"] > 0 and update["proof_bytes"] > 0
        assert defaults.min_fee_bps <= update["new_fee_bps"] <= defaults.max_fee_bps
        assert abs(update["new_fee_bps"] - update["old_fee_bps"]) <= defaults.max_step_bps
    assert updates[1]["old_fee_bps"] == updates[0]["new_fee_bps"]
    assert updates[1]["epoch"] > updates[0]["epoch"]
    assert updates[1]["volatility"] > updates[0]["volatility"]
    assert updates[1]["new_fee_bps"] > updates[0]["new_fee_bps"], "volatile prices should raise the fee"

    # a second run in the same workdir (a fresh embedded chain, the old records still on
    # disk: same addresses, same model id) must work as well, with the same story
    again = run_cli("demo", "--json", "--workdir", demo)
    assert again.code == 0, again.stderr
    second = json.loads(again.stdout)
    assert (second["model_id"], second["version"], second["registry"]) == (1, 1, document["registry"])
    assert [(u["old_fee_bps"], u["new_fee_bps"]) for u in second["updates"]] == [
        (u["old_fee_bps"], u["new_fee_bps"]) for u in updates
    ]
