"""Hashed-params circuits end to end: the weights commitment the registry stores is the one
every proof carries, and a consumer accepts only the weights registered under its model.

With `param_visibility = hashed` the weights are not in the verifying key: one verifier
verifies the model with *any* weights, and each proof exposes their Poseidon hash as its
first instance. Two weight sets (ours and a perturbed copy) therefore share one vk and one
verifier; what tells them apart is the commitment, which only the model's owner registers
under the model a consumer pinned.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
import pytest
from contract_env import contract_artifact, second_account
from onnx import numpy_helper

from prover import ezkl_api
from prover.datasets import load_dataset, sample
from prover.errors import TransactionReverted
from prover.evm.client import Chain, call, contract_at, deploy, transact
from prover.evm.solc import load_artifact
from prover.evm.verifier import deploy_verifier
from prover.pipeline.builds import build_reference
from prover.proving.circuit import Circuit, open_circuit
from prover.proving.proofs import proof_bytes
from prover.proving.prove import write_input
from prover.registry.contract import open_registry
from prover.registry.versions import audit, params_commitment, register

pytestmark = [pytest.mark.chain, pytest.mark.slow]

NAME = "feehp"
ZERO32 = b"\x00" * 32
KEY = b"\x42" * 32


@dataclass(frozen=True)
class HashedEnv:
    chain: Chain
    circuit: Circuit
    verifier: Any
    registry: Any
    model_id: int
    honest: tuple[bytes, list[int]]  # proof bytes and instances, our weights
    perturbed: tuple[bytes, list[int]]  # the same input, perturbed weights, the same pk
    perturbed_vk: bytes


def _perturbed_copy(circuit: Circuit, folder: Path) -> Path:
    """The model's ONNX with every float weight scaled by 1.05: another model, same graph."""
    model = onnx.load(circuit.paths.onnx)
    for index, tensor in enumerate(model.graph.initializer):
        values = numpy_helper.to_array(tensor)
        if values.dtype.kind == "f":
            model.graph.initializer[index].CopyFrom(numpy_helper.from_array(values * 1.05, tensor.name))
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "network.onnx"
    onnx.save(model, out)
    return out


def _ezkl_proof(compiled: Path, data: Path, pk: Path, circuit: Circuit, folder: Path) -> tuple[bytes, list[int]]:
    """A proof made with ezkl directly, as an adversary holding a compiled circuit would."""
    witness, proof = folder / "witness.json", folder / "proof.json"
    ezkl_api.gen_witness(data, compiled, witness, folder / "ezkl.log")
    ezkl_api.prove(witness, compiled, pk, proof, circuit.srs_path(), folder / "ezkl.log")
    document = json.loads(proof.read_text())
    instances = [int.from_bytes(bytes.fromhex(felt), "little") for felt in document["instances"][0]]
    return proof_bytes(document), instances


@pytest.fixture(scope="module")
def hashed_env(module_chain: Chain, built: Path, tmp_path_factory: pytest.TempPathFactory) -> HashedEnv:
    """The fee model with hashed params at the tuned fee circuit's layout, registered; a
    perturbed copy compiled with the same settings and proved with the same pk."""
    work = tmp_path_factory.mktemp("hashed") / "work"
    shutil.copytree(built / "circuits" / "fee", work / "circuits" / "fee")
    layout = open_circuit("fee", work).info.layout
    build_reference(
        "fee",
        work,
        circuit_name=NAME,
        overrides={
            "settings": "manual",
            "param_visibility": "hashed",
            "input_scale": layout.input_scale,
            "param_scale": layout.param_scale,
            "scale_rebase_multiplier": layout.scale_rebase_multiplier,
            "decomp_base": layout.decomp_base,
            "decomp_legs": layout.decomp_legs,
            "num_inner_cols": layout.num_inner_cols,
        },
    )
    circuit = open_circuit(NAME, work)
    chain = module_chain
    verifier = deploy_verifier(chain, circuit)
    registry = open_registry(chain, work, deploy_if_missing=True)
    model_id = register(chain, registry, circuit, verifier=verifier.address).model_id

    data = work / "input.json"
    write_input(data, sample(load_dataset(circuit.paths.heldout, circuit.info.input_shapes), 0))
    scratch = work / "attack"
    honest = _ezkl_proof(circuit.paths.compiled, data, circuit.paths.pk, circuit, work)
    onnx_path = _perturbed_copy(circuit, scratch)
    compiled, vk, pk = scratch / "network.compiled", scratch / "key.vk", scratch / "key.pk"
    ezkl_api.compile_circuit(onnx_path, compiled, circuit.paths.settings, scratch / "ezkl.log")
    ezkl_api.setup(compiled, vk, pk, circuit.srs_path(), scratch / "ezkl.log")
    perturbed = _ezkl_proof(compiled, data, circuit.paths.pk, circuit, scratch)
    return HashedEnv(
        chain,
        circuit,
        contract_at(
            chain, verifier.address, load_artifact(work / "out" / NAME / "Halo2Verifier.json", "verifier")["abi"]
        ),
        registry,
        model_id,
        honest,
        perturbed,
        vk.read_bytes(),
    )


def _consumer(env: HashedEnv, model_id: int) -> Any:
    """A hashed-params consumer as docs/consumers.md describes it, pinned to `model_id`: the
    commitment is instance 0, the inputs follow it, the output is last."""
    artifact = contract_artifact(env.circuit.workdir, "ConsumerHarness", tests=True)
    harness = contract_at(
        env.chain,
        deploy(env.chain, artifact, env.verifier.address, env.registry.address, model_id).address,
        artifact["abi"],
    )
    transact(env.chain, harness, "setShape", 10, 1)
    transact(env.chain, harness, "setParamsInstance", 0, 1)
    return harness


def test_registered_commitment_is_the_full_field_element_every_proof_carries(hashed_env: HashedEnv) -> None:
    """register -> prove -> the consumer accepts; the stored commitment is the whole felt (it
    does not fit 128 bits, so a truncating conversion would have refused every honest proof)."""
    raw, instances = hashed_env.honest
    commitment = params_commitment(hashed_env.circuit)
    assert int.from_bytes(commitment, "big") == instances[0] >= 2**128
    report = audit(hashed_env.chain, hashed_env.registry, hashed_env.circuit, hashed_env.model_id, 1)
    assert report.mismatched == []
    consumer = _consumer(hashed_env, hashed_env.model_id)
    outputs = call(hashed_env.chain, consumer, "accept", raw, instances, instances[1:9], KEY)
    assert outputs == [instances[9]]
    assert transact(hashed_env.chain, consumer, "accept", raw, instances, instances[1:9], KEY)["status"] == 1


def test_perturbed_weights_share_the_verifier_but_not_the_model(hashed_env: HashedEnv) -> None:
    """Weights substitution: a perturbed copy has the same vk, its proofs pass the same
    verifier, and once a stranger registers its commitment under a model of its own, a
    consumer pinned to that model accepts it. A consumer pinned to ours refuses it by name."""
    raw, instances = hashed_env.perturbed
    honest_instances = hashed_env.honest[1]
    assert hashed_env.perturbed_vk == hashed_env.circuit.paths.vk.read_bytes()
    assert instances[1:9] == honest_instances[1:9] and instances[0] != honest_instances[0]
    assert instances[9] != honest_instances[9]  # another model: another output
    assert call(hashed_env.chain, hashed_env.verifier, "verifyProof", raw, instances) is True

    stranger = second_account(hashed_env.chain)
    receipt = transact(stranger, hashed_env.registry, "createModel", "fee")
    theirs = int(hashed_env.registry.events.ModelCreated().process_receipt(receipt)[0]["args"]["modelId"])
    version = (hashed_env.verifier.address, ZERO32, instances[0].to_bytes(32, "big"), 0, *([ZERO32] * 7), "23.0.5")
    transact(stranger, hashed_env.registry, "addVersion", theirs, version)

    ours = _consumer(hashed_env, hashed_env.model_id)
    with pytest.raises(TransactionReverted) as info:
        transact(hashed_env.chain, ours, "accept", raw, instances, instances[1:9], KEY)
    assert info.value.error_name == "UnregisteredArtifact"
    assert info.value.error_args[0] == hashed_env.model_id and info.value.error_args[3] == instances[0].to_bytes(
        32, "big"
    )
    assert call(hashed_env.chain, _consumer(hashed_env, theirs), "accept", raw, instances, instances[1:9], KEY) == [
        instances[9]
    ]
