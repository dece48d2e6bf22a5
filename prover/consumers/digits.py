"""The label book: a second consumer, written from docs/consumers.md, for the `digits` model.

`DigitLabels` (contracts/src/examples/DigitLabels.sol) records a verified label for an 8x8
image and refuses a second label for the same image. Unlike the fee pool, the chain does
not hold the input: the caller brings the image, the contract encodes its pixels into
the input instances it expects (`expectedInputs(pixels)`), and the proof must be over
exactly those. The label is the argmax of the proven logits, decided on chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from web3.contract import Contract

from models import get_model
from prover.consumers.base import (
    DemoReport,
    Pin,
    Request,
    Submission,
    consumer_contract,
    deploy_consumer,
    submit,
)
from prover.datasets import read_input_file
from prover.errors import InputError, ProverError, TransactionReverted
from prover.evm.client import Chain, call, connect
from prover.evm.verifier import deploy_verifier
from prover.jsonio import read_json
from prover.pipeline.builds import build_reference
from prover.progress import Reporter, timed_stage
from prover.proving.circuit import Circuit, open_circuit
from prover.proving.proofs import Proof
from prover.proving.prove import write_input
from prover.registry.contract import open_registry
from prover.registry.versions import register

PIXELS = 64
PIXEL_MAX = 16
DEMO_IMAGES = 3


def read_pixels(path: Path) -> list[int]:
    """64 integer pixels 0..16 from `{"pixels": [...]}`, or from an ezkl input file as
    `prover example digits` writes it (values v / 16)."""
    document = read_json(path, "image file", InputError)
    try:
        if isinstance(document, dict) and "pixels" in document:
            values = np.asarray(document["pixels"], dtype=np.float64).ravel()
        else:
            values = np.asarray(read_input_file(path)[0], dtype=np.float64) * PIXEL_MAX
    except (TypeError, ValueError, OverflowError):  # a string, a ragged list, a non-number, past float range
        raise InputError(f"{path}: pixels must be a flat list of 64 numbers") from None
    if values.size != PIXELS:
        raise InputError(f"{path}: an image has {PIXELS} pixels, this has {values.size}")
    pixels = np.rint(values)
    if not np.allclose(values, pixels, atol=1e-6) or pixels.min() < 0 or pixels.max() > PIXEL_MAX:
        raise InputError(f"{path}: pixels must be integers 0..{PIXEL_MAX} (or v/16 in an ezkl input file)")
    return [int(v) for v in pixels]


@dataclass(frozen=True)
class DigitLabelsConsumer:
    """`prover deploy digits` / `prover submit digits --input IMAGE` / `prover demo digits`."""

    name: str = "digits"
    contract: str = "DigitLabels"
    description: str = "label book: one verified digit label per 8x8 image, never relabelled (digits model)"

    def constructor_args(self, circuit: Circuit, pin: Pin, owner: str) -> list[Any]:
        return [pin.verifier, pin.registry, pin.model_id, circuit.info.input_scales[0], owner]

    def read_request(
        self, chain: Chain, contract: Contract, circuit: Circuit, block: int, request_file: Path | None
    ) -> Request:
        """The contract's own encoding of the caller's image, read at `block`."""
        if request_file is None:
            raise ProverError(
                "the label book labels the image you bring: pass --input IMAGE",
                hint="e.g. `prover example digits --out image.json`, then --input image.json",
            )
        pixels = read_pixels(request_file)
        inputs = [int(value) for value in call(chain, contract, "expectedInputs", pixels, block=block)]
        image_hash = bytes(call(chain, contract, "imageHash", pixels, block=block))
        return Request(block, inputs, {"pixels": pixels, "image_hash": "0x" + image_hash.hex()})

    def submit_call(self, request: Request, proof: Proof) -> tuple[str, list[Any]]:
        return "label", [request.context["pixels"], proof.raw, proof.instances]

    def outcome(
        self, chain: Chain, contract: Contract, circuit: Circuit, request: Request, proof: Proof, receipt: Any
    ) -> dict[str, Any]:
        event = dict(contract.events.Labelled().process_receipt(receipt)[0]["args"])
        return {
            "image_hash": "0x" + bytes(event["imageHash"]).hex(),
            "digit": int(event["digit"]),
            "labeller": str(event["labeller"]),
        }

    def summary(self, submission: Submission) -> list[tuple[str, str]]:
        details = submission.details
        return [
            ("image", details["image_hash"]),
            ("label", str(details["digit"])),
            ("label gas", f"{submission.gas_used:,}"),
            ("proving time", f"{submission.prove_seconds:.3f} s"),
        ]

    def demo(
        self, workdir: Path, reporter: Reporter, rpc_url: str | None = None, private_key: str | None = None
    ) -> DemoReport:
        """Label a few held-out images, then try to relabel the first: refused by name."""
        build_reference("digits", workdir, reporter=reporter)
        circuit = open_circuit("digits", workdir)
        rows, labelled = [], []
        with connect(rpc_url, private_key, log_dir=workdir) as chain:
            with timed_stage(reporter, "deploy", "verifier, registry, label book") as outcome:
                verifier = deploy_verifier(chain, circuit)
                registry = open_registry(chain, workdir, deploy_if_missing=True)
                registration = register(chain, registry, circuit, verifier=verifier.address)
                pin = Pin(verifier.address, registry.address, registration.model_id)
                deployed = deploy_consumer(chain, self, circuit, pin)
                book = consumer_contract(chain, self, circuit, deployed.address)
                outcome.detail = deployed.address
            for index in range(DEMO_IMAGES):
                image = workdir / f"digits-image-{index}.json"
                write_input(image, [circuit_sample(index)])
                with timed_stage(reporter, "label", f"held-out image {index}") as outcome:
                    done = submit(chain, self, circuit, book, workdir / f"digits-{index}.proof.json", image)
                    outcome.detail = f"digit {done.details['digit']}"
                labelled.append(done.document())
                rows.append(
                    [
                        str(index),
                        done.details["image_hash"][:12] + "…",
                        str(done.details["digit"]),
                        f"{done.verify_gas or 0:,}",
                        f"{done.gas_used:,}",
                        f"{done.prove_seconds:.2f} s",
                    ]
                )
            with timed_stage(reporter, "relabel", "image 0 again, with a fresh proof") as outcome:
                try:
                    submit(
                        chain, self, circuit, book, workdir / "digits-again.proof.json", workdir / "digits-image-0.json"
                    )
                    refusal = "accepted (unexpected)"
                except TransactionReverted as exc:
                    refusal = f"refused: {exc.error_name}"
                outcome.detail = refusal
        return DemoReport(
            title="DigitLabels" + (" on an embedded anvil" if rpc_url is None else f" on chain {chain.chain_id}"),
            columns=["image", "hash", "label", "verifyProof gas", "label gas", "proving time"],
            rows=rows,
            facts=[f"a second label for image 0: {refusal}"],
            document={
                "verifier": verifier.address,
                "label_book": deployed.address,
                "registry": registry.address,
                "labels": labelled,
                "relabel": refusal,
            },
        )


def circuit_sample(index: int) -> np.ndarray:
    """Held-out image `index` of the reference model, encoded as `prover example digits` writes it."""
    return get_model("digits").heldout_set()[index : index + 1]
