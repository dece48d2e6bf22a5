"""Commands for Solidity developers: `prover calldata`, a proof as `verifyProof` calldata.

A consumer's own forge (or Hardhat) tests need a real proof in the shape the chain sees it:
the ABI-encoded `(bytes proof, uint256[] instances)` of `IHalo2Verifier.verifyProof`, and
what the outputs decode to under `ZkmlConsumer`'s signed fixed point, to assert on. The
proof is read and checked by the same reader as `prover verify` (a foreign or corrupt one is
exit 2) and, unless told otherwise, verified off-chain first, so the calldata a test pins
down is one the circuit's Solidity verifier accepts.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from prover.cli.base import JsonOpt, WorkdirOpt, app, emit_json, handles_errors
from prover.cli.prove_commands import output_names, warn_dev_srs
from prover.cli.render import show_table, stdout, warn
from prover.errors import MissingArtifactError, ProofFormatError
from prover.proving.circuit import Circuit, open_circuit
from prover.proving.field import to_float, to_signed
from prover.proving.proofs import Proof

#: the generated verifier's entry point (`IHalo2Verifier.verifyProof`)
VERIFY_PROOF = "verifyProof(bytes,uint256[])"
#: `ZkmlConsumer.MAX_ABS`: a consumer decodes an output only if its magnitude is below this
#: (else `OutputOutOfRange`)
CONSUMER_MAX_ABS = 2**128


@app.command("calldata")
@handles_errors
def calldata_command(
    name: Annotated[str, typer.Argument(help="Circuit name.")],
    proof: Annotated[
        Optional[Path], typer.Option(help="Proof JSON written by `prover prove` (default circuits/NAME/proof.json).")
    ] = None,
    verify: Annotated[
        bool, typer.Option("--verify/--no-verify", help="Refuse a proof that does not verify (default).")
    ] = True,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Print verifyProof's ABI-encoded calldata for a proof, and its outputs decoded as a consumer does."""
    circuit = open_circuit(name, workdir)
    path = proof if proof is not None else circuit.paths.default_proof
    if proof is None and not path.exists():
        raise MissingArtifactError(
            f"no proof at {path}", hint=f"run `prover prove {name} --input FILE` (it writes there), or pass --proof"
        )
    parsed = circuit.read_proof(path)
    if verify:
        warn_dev_srs(circuit)
        result = circuit.verify(parsed)
        if not result.valid:
            raise ProofFormatError(
                f"{path} does not verify for circuit {name!r}" + (f": {result.reason}" if result.reason else ""),
                hint=f"prove again with `prover prove {name}`; --no-verify encodes it anyway (for a negative test)",
            )
    document = calldata_document(circuit, parsed, verified=verify)
    if json_out:
        emit_json(document)
        return
    _show(document)


def verify_proof_calldata(proof: Proof) -> bytes:
    """`verifyProof(proof.raw, proof.instances)` as a transaction's data: selector, then the
    canonical ABI encoding (the layout a typed Solidity call produces, rule 1)."""
    from eth_abi.abi import encode

    return _selector() + encode(["bytes", "uint256[]"], [proof.raw, proof.instances])


def decoded_outputs(circuit: Circuit, proof: Proof) -> list[dict[str, Any]]:
    """Each output tensor's instances as signed integers at its scale, as `ZkmlConsumer`
    decodes them: the last instances, in circuit order (none unless outputs are public)."""
    if circuit.manifest.config.output_visibility != "public":
        return []
    info, instances = circuit.info, proof.instances
    sizes = [math.prod(shape) for shape in info.output_shapes]
    start = len(instances) - sum(sizes)
    outputs = []
    for label, size, scale in zip(output_names(circuit), sizes, info.output_scales, strict=True):
        felts = instances[start : start + size]
        values = [to_signed(felt) for felt in felts]
        outputs.append(
            {
                "name": label,
                "first_instance": start,
                "scale": scale,
                "values": values,
                "floats": [to_float(felt, scale) for felt in felts],
                "decodable": all(abs(value) < CONSUMER_MAX_ABS for value in values),
            }
        )
        start += size
    return outputs


def calldata_document(circuit: Circuit, proof: Proof, *, verified: bool) -> dict[str, Any]:
    """What `prover calldata --json` prints. Instances are decimal strings: they reach 2^254,
    beyond what JSON numbers carry exactly in most parsers (forge's `parseJsonUintArray`
    reads the strings)."""
    return {
        "circuit": circuit.name,
        "proof_file": str(proof.path),
        "verified": verified,
        "function": VERIFY_PROOF,
        "selector": "0x" + _selector().hex(),
        "calldata": "0x" + verify_proof_calldata(proof).hex(),
        "proof": "0x" + proof.raw.hex(),
        "instances": [str(value) for value in proof.instances],
        "output_visibility": circuit.manifest.config.output_visibility,
        "outputs": decoded_outputs(circuit, proof),
    }


def _selector() -> bytes:
    from eth_utils.abi import function_signature_to_4byte_selector

    return function_signature_to_4byte_selector(VERIFY_PROOF)


def _show(document: dict[str, Any]) -> None:
    """The calldata alone on its first line (for `| head -1`), then what it holds."""
    stdout.print(document["calldata"], soft_wrap=True, markup=False)
    rows = [
        ("function", f"{document['function']} (selector {document['selector']})"),
        ("proof", f"{(len(document['proof']) - 2) // 2:,} bytes from {document['proof_file']}"),
        ("instances", str(len(document["instances"]))),
    ]
    for output in document["outputs"]:
        last = output["first_instance"] + len(output["values"]) - 1
        shown = ", ".join(f"{v} ({f:.6g})" for v, f in zip(output["values"], output["floats"], strict=True))
        rows.append((f"{output['name']} [{output['first_instance']}..{last}] / 2^{output['scale']}", shown))
        if not output["decodable"]:
            warn(f"{output['name']}: a value of magnitude >= 2^128: ZkmlConsumer reverts with OutputOutOfRange")
    if not document["outputs"]:
        rows.append(("outputs", f"{document['output_visibility']}: no output values among the instances"))
    show_table(f"verifyProof calldata for {document['circuit']}", rows)
