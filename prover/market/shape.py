"""How one proof of a batch-N circuit carries N market requests, in the market's terms.

The market (contracts/src/InferenceMarket.sol) knows a served version only by its `Shape`:
N inferences per proof, the instances before the inputs (the weights' hash for hashed
params), and the felts per inference in and out. Request k of a fulfilment sits in slot k;
slots no request fills are padding, whose input felts are all 0. This module computes the
shape from a built circuit, turns a requester's values into the signed fixed-point integers
`request` takes (what the market hashes), and lays requests out as the one sample a batch
proof is made of, so the instances the prover produces are the ones the market checks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prover.datasets import Dataset
from prover.errors import ProverError
from prover.proving.circuit import Circuit
from prover.proving.field import fixed_to_float, from_signed, to_signed
from prover.proving.prove import ProofResult

#: felts must stay below 2**128 in magnitude to decode on chain (ZkmlConsumer.MAX_ABS)
MAX_ABS = 2**128


@dataclass(frozen=True)
class Shape:
    """`Shape` of IInferenceMarket.sol, plus the scales the CLI needs to read values."""

    batch_size: int
    leading_instances: int
    inputs_per_inference: int
    outputs_per_inference: int
    input_scale: int
    output_scale: int

    def as_tuple(self) -> tuple[int, int, int, int]:
        """The on-chain struct (batchSize, leadingInstances, inputsPerInference, outputsPerInference)."""
        return (self.batch_size, self.leading_instances, self.inputs_per_inference, self.outputs_per_inference)

    @property
    def instance_count(self) -> int:
        return self.leading_instances + self.batch_size * (self.inputs_per_inference + self.outputs_per_inference)


def shape_of(circuit: Circuit) -> Shape:
    """The market shape of a built circuit; a circuit the market cannot serve is refused by name.

    Requests carry public inputs and get public outputs, so both must be public. With a
    batch above 1 the inputs and outputs must be one tensor each: ezkl lays instances out
    tensor by tensor, so a second tensor would split each inference's felts in two places.
    """
    config, info, batch = circuit.manifest.config, circuit.info, circuit.manifest.batch
    if config.input_visibility != "public" or config.output_visibility != "public":
        raise ProverError(
            f"circuit {circuit.name!r} has {config.input_visibility} inputs and {config.output_visibility} "
            "outputs; the market proves public inputs and outputs",
            hint=f"prover build {circuit.name} --input-visibility public --output-visibility public",
        )
    if batch > 1 and (len(info.input_shapes) != 1 or len(info.output_shapes) != 1):
        raise ProverError(
            f"circuit {circuit.name!r} has {len(info.input_shapes)} input and {len(info.output_shapes)} output "
            f"tensors; a batch of {batch} is served only with one of each",
            hint=f"serve it with a batch-1 build: prover build {circuit.name} --batch 1",
        )
    if len(set(info.input_scales)) != 1 or len(set(info.output_scales)) != 1:
        raise ProverError(
            f"circuit {circuit.name!r} mixes input or output scales; the market needs one of each",
            hint=f"rebuild with one scale: prover build {circuit.name} --settings manual --input-scale N",
        )
    inputs = sum(math.prod(shape) for shape in info.input_shapes)
    outputs = sum(math.prod(shape) for shape in info.output_shapes)
    return Shape(
        batch_size=batch,
        leading_instances=1 if config.param_visibility == "hashed" else 0,
        inputs_per_inference=inputs // batch,
        outputs_per_inference=outputs // batch,
        input_scale=info.input_scales[0],
        output_scale=info.output_scales[0],
    )


def dequantize(values: Sequence[int], scale: int) -> list[float]:
    """Signed fixed-point integers (what `resultOf` returns) as the values they carry."""
    return [value / (1 << scale) for value in values]


def quantize(values: Sequence[float], scale: int) -> list[int]:
    """Values as the signed fixed-point integers ezkl makes of them: round(x * 2**scale),
    half away from zero (Rust's `f64::round`, not Python's round-half-to-even)."""
    unit = 2**scale
    fixed = [int(math.copysign(math.floor(abs(value) * unit + 0.5), value)) for value in values]
    for index, value in enumerate(fixed):
        if abs(value) >= MAX_ABS:
            raise ProverError(
                f"input {index} is too large for the circuit's fixed point ({values[index]})",
                hint="inputs must lie in the range the circuit was built for (`prover inspect NAME`)",
            )
    return fixed


def request_inputs(shape: Shape, values: Sequence[float]) -> list[int]:
    """One inference's values (flattened) as the integers `request` takes."""
    if len(values) != shape.inputs_per_inference:
        raise ProverError(
            f"the model takes {shape.inputs_per_inference} input values per inference, the file has {len(values)}",
            hint="the file holds one inference's input, as `prover example MODEL` writes it",
        )
    return quantize(values, shape.input_scale)


def batch_sample(circuit: Circuit, shape: Shape, requests: Sequence[Sequence[int]]) -> Dataset:
    """Requests' fixed-point inputs as the sample one batch proof is made of: request k in
    slot k, zero padding after. Each value is read back at the input scale, which ezkl
    quantises to the very same felt the market hashed."""
    if not 1 <= len(requests) <= shape.batch_size:
        raise ProverError(f"{len(requests)} requests for a circuit that proves {shape.batch_size} at once")
    flat: list[int] = []
    for fixed in requests:
        if len(fixed) != shape.inputs_per_inference:
            raise ProverError(f"a request has {len(fixed)} inputs, the circuit takes {shape.inputs_per_inference}")
        flat.extend(fixed)
    flat.extend([0] * (shape.batch_size - len(requests)) * shape.inputs_per_inference)
    sample, start = [], 0
    for tensor_shape, scale in zip(circuit.info.input_shapes, circuit.info.input_scales, strict=True):
        size = math.prod(tensor_shape)
        values = fixed_to_float([from_signed(value) for value in flat[start : start + size]], scale)
        sample.append(np.asarray(values, dtype=np.float64).reshape(1, *tensor_shape))
        start += size
    return sample


def slot_inputs(shape: Shape, instances: Sequence[int], slot: int) -> list[int]:
    """The input felts of slot `slot`, as signed integers (what the market compares)."""
    start = shape.leading_instances + slot * shape.inputs_per_inference
    return [to_signed(felt) for felt in instances[start : start + shape.inputs_per_inference]]


def slot_outputs(shape: Shape, instances: Sequence[int], slot: int) -> list[int]:
    """The output felts of slot `slot`, as signed fixed-point integers (what `resultOf` gives)."""
    start = shape.leading_instances + shape.batch_size * shape.inputs_per_inference
    start += slot * shape.outputs_per_inference
    return [to_signed(felt) for felt in instances[start : start + shape.outputs_per_inference]]


def prove_requests(circuit: Circuit, shape: Shape, requests: Sequence[Sequence[int]], proof_out: Path) -> ProofResult:
    """One proof settling `requests` (fixed-point inputs, in slot order), checked to carry
    each request's inputs in its slot before anything is sent: a mismatch here would only
    cost a reverted `fulfil` (`InputsMismatch`) later."""
    result = circuit.prove_sample(batch_sample(circuit, shape, requests), proof_out, source="market requests")
    check_slots(circuit.name, shape, result.proof.instances, requests)
    return result


def check_slots(name: str, shape: Shape, instances: Sequence[int], requests: Sequence[Sequence[int]]) -> None:
    """The proof's instances are the market's layout with each request's inputs in its slot."""
    if len(instances) != shape.instance_count:
        raise ProverError(
            f"the proof has {len(instances)} instances, the market expects {shape.instance_count} for "
            f"{name!r}; the served shape does not match the circuit"
        )
    for slot, fixed in enumerate(requests):
        if slot_inputs(shape, instances, slot) != list(fixed):
            raise ProverError(f"slot {slot} of the proof does not carry its request's inputs (input scale mismatch?)")
