"""What a keeper is told and what it knows by heart: the versions it serves, its settings,
which refusals are final, and a `Requested` event as the outbox records it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prover.keeper.records import InferenceRequest
from prover.market.shape import Shape
from prover.proving.circuit import Circuit

#: requests whose deadline is closer than this are not locked: there would be no time to prove
DEFAULT_DEADLINE_MARGIN_S = 10
APPROVE = "approve"
#: a long-running keeper rides out this many node failures in a row (backing off), then stops
MAX_CONSECUTIVE_FAILURES = 8
#: fulfil refusals about the proof itself: the same proof would be refused again
PERMANENT_REFUSALS = frozenset(
    {
        "InputsMismatch",
        "PaddingNotZero",
        "ProofRejected",
        "WrongInstanceCount",
        "InstanceNotInField",
        "ParamsMismatch",
        "OutputOutOfRange",
        "VersionNotServing",
        "VersionRevoked",
        "MixedVersions",
        "WrongBatchSize",
    }
)


@dataclass(frozen=True)
class Served:
    """A model version this keeper proves for, and the circuit that does it."""

    model_id: int
    version: int
    circuit: Circuit
    shape: Shape


@dataclass(frozen=True)
class ServeConfig:
    max_wait_s: float = 2.0  # how long the oldest request waits for its batch to fill
    min_prover_fee: int = 0  # requests paying less are skipped (token units)
    deadline_margin_s: int = DEFAULT_DEADLINE_MARGIN_S
    poll_s: float = 0.5
    once: bool = False  # lock what is there without waiting for batches to fill


def announced(args: Mapping[str, Any]) -> InferenceRequest:
    """A `Requested` event's arguments as the outbox's record."""
    return InferenceRequest(
        request_id=int(args["requestId"]),
        model_id=int(args["modelId"]),
        version=int(args["version"]),
        inputs=tuple(int(value) for value in args["inputs"]),
        deadline=int(args["deadline"]),
        escrow=int(args["escrow"]),
        prover_fee=int(args["proverFee"]),
    )
