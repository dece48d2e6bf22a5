"""`prover calldata`: a proof as the verifier's calldata, for a Solidity developer's own tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import CliResult, assert_clean_error, run_cli
from eth_abi import decode
from eth_utils import keccak

from prover.evm.client import Chain
from prover.evm.verifier import deploy_verifier
from prover.proving.circuit import open_circuit
from prover.proving.field import FIELD_MODULUS

SELECTOR = keccak(text="verifyProof(bytes,uint256[])")[:4]


@pytest.fixture(scope="module")
def proved(built: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A workdir whose fee and digits circuits each have a proof at the default path, and
    what `prover prove --json` said about it."""
    workdir = tmp_path_factory.mktemp("calldata")
    shutil.copytree(built / "circuits", workdir / "circuits")
    said: dict[str, Any] = {"workdir": workdir}
    for name in ("fee", "digits"):
        assert run_cli("example", name, "--out", workdir / f"{name}.json", "--workdir", workdir).code == 0
        result = run_cli("prove", name, "--input", workdir / f"{name}.json", "--workdir", workdir, "--json")
        assert result.code == 0, result.stderr
        said[name] = json.loads(result.stdout)
    return said


def calldata(workdir: Path, *args: str | Path) -> CliResult:
    return run_cli("calldata", *args, "--workdir", workdir)


def document(workdir: Path, *args: str | Path) -> dict[str, Any]:
    result = calldata(workdir, *args, "--json")
    assert result.code == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


@pytest.mark.chain
def test_fee_calldata_is_what_its_verifier_accepts(proved: dict[str, Any], session_chain: Chain) -> None:
    workdir = proved["workdir"]
    doc = document(workdir, "fee")
    proof = open_circuit("fee", workdir).read_proof(workdir / "circuits" / "fee" / "proof.json")
    data = bytes.fromhex(doc["calldata"][2:])
    assert data[:4] == SELECTOR and doc["selector"] == "0x" + SELECTOR.hex()
    assert decode(["bytes", "uint256[]"], data[4:]) == (proof.raw, tuple(proof.instances))
    assert doc["proof"] == "0x" + proof.raw.hex() and doc["instances"] == [str(v) for v in proof.instances]
    assert doc["verified"] is True and doc["function"] == "verifyProof(bytes,uint256[])"
    # the calldata itself, sent as it is, is accepted by the circuit's Solidity verifier
    verifier = deploy_verifier(session_chain, open_circuit("fee", workdir))
    answer = session_chain.w3.eth.call({"to": verifier.address, "data": doc["calldata"]})  # type: ignore[typeddict-item]
    assert int.from_bytes(bytes(answer), "big") == 1


def test_outputs_are_the_last_instances_decoded_as_signed_fixed_point(proved: dict[str, Any]) -> None:
    """What ZkmlConsumer decodes: the trailing instances, negative values near r, at the
    output scale; as floats they are what `prover prove` printed."""
    for name, first in (("fee", 8), ("digits", 64)):
        doc = document(proved["workdir"], name)
        (output,) = doc["outputs"]
        assert output["first_instance"] == first and output["decodable"] is True
        felts = [int(value) for value in doc["instances"][first:]]
        assert output["values"] == [felt - FIELD_MODULUS if felt > FIELD_MODULUS // 2 else felt for felt in felts]
        assert output["floats"] == [value / 2 ** output["scale"] for value in output["values"]]
        assert output["floats"] == proved[name]["outputs"][0]
    digits = document(proved["workdir"], "digits")["outputs"][0]["values"]
    assert any(value < 0 for value in digits), "the digits logits include negative values"


def test_human_output_starts_with_the_calldata(proved: dict[str, Any]) -> None:
    workdir = proved["workdir"]
    result = calldata(workdir, "digits", "--proof", workdir / "circuits" / "digits" / "proof.json")
    assert result.code == 0, result.stderr
    first, *rest = result.stdout.splitlines()
    assert first == document(workdir, "digits")["calldata"]
    assert "verifyProof(bytes,uint256[])" in result.stdout and "[64..73] / 2^" in "\n".join(rest)


def test_no_proof_yet_names_the_command_that_makes_one(built: Path, tmp_path: Path) -> None:
    shutil.copytree(built / "circuits" / "fee", tmp_path / "circuits" / "fee")
    assert_clean_error(calldata(tmp_path, "fee"), "no proof at", "prover prove fee --input")
    assert_clean_error(calldata(tmp_path, "fee", "--proof", tmp_path / "absent.json"), "does not exist")


def test_a_proof_of_another_circuit_is_refused(proved: dict[str, Any]) -> None:
    workdir = proved["workdir"]
    digits_proof = workdir / "circuits" / "digits" / "proof.json"
    assert_clean_error(calldata(workdir, "fee", "--proof", digits_proof), "another circuit")


def test_a_proof_that_does_not_verify_is_refused_unless_asked(proved: dict[str, Any], tmp_path: Path) -> None:
    """Same circuit, same instance count, one byte changed: not a proof of this circuit's
    statement, so no calldata; `--no-verify` encodes it anyway, for a negative test."""
    workdir = proved["workdir"]
    proof = json.loads((workdir / "circuits" / "fee" / "proof.json").read_text())
    raw = bytearray(proof["proof"])
    raw[100] ^= 1
    proof["proof"], proof["hex_proof"] = list(raw), "0x" + raw.hex()
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(proof))
    assert_clean_error(
        calldata(workdir, "fee", "--proof", tampered), "does not verify for circuit 'fee'", "--no-verify"
    )
    doc = document(workdir, "fee", "--proof", tampered, "--no-verify")
    assert doc["verified"] is False and doc["proof"] == "0x" + raw.hex()
