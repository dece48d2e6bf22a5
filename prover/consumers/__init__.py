"""Consumers by name: the contracts `prover deploy NAME` / `prover submit NAME` drive.

Three ways in, looked up in this order:
1. `register_consumer(MyConsumer())` from your own code (a notebook, a script);
2. the `prover.consumers` entry point group of an installed package
   (`[project.entry-points."prover.consumers"] mine = "mypkg.consumer:MyConsumer"`);
3. `$PROVER_CONSUMERS`, comma-separated `module:attribute` references, for a consumer
   that is a file on your path and not (yet) a package;
then the built-in ones (`fee`, `digits`). See docs/consumers.md.
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points
from typing import Any

from prover.consumers.base import Consumer
from prover.errors import ProverError

ENTRY_POINT_GROUP = "prover.consumers"
ENVIRONMENT_VARIABLE = "PROVER_CONSUMERS"
_BUILT_IN = {
    "fee": "prover.consumers.fee.pool:FeeConsumer",
    "digits": "prover.consumers.digits:DigitLabelsConsumer",
}
_registered: dict[str, Consumer] = {}


class UnknownConsumerError(ProverError):
    """No consumer is registered under this name."""


def register_consumer(consumer: Consumer) -> Consumer:
    """Make `consumer` available under `consumer.name` for this process (replacing any)."""
    _registered[consumer.name] = consumer
    return consumer


def _load(reference: str, origin: str) -> Consumer:
    """`module:attribute` -> a consumer instance (a class is instantiated with no arguments)."""
    module_name, _, attribute = reference.partition(":")
    try:
        found: Any = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ProverError(
            f"cannot load consumer {reference!r} from {origin}: {exc}", hint="a reference is module.path:ClassName"
        ) from None
    return found() if isinstance(found, type) else found


def _references() -> dict[str, tuple[str, str]]:
    """name -> (reference, origin) from the environment, entry points and built-ins."""
    found = {name: (reference, "prover") for name, reference in _BUILT_IN.items()}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        found[point.name] = (point.value, f"entry point {point.name!r}")
    for reference in filter(None, (part.strip() for part in os.environ.get(ENVIRONMENT_VARIABLE, "").split(","))):
        consumer = _load(reference, f"${ENVIRONMENT_VARIABLE}")
        found[consumer.name] = (reference, f"${ENVIRONMENT_VARIABLE}")
    return found


def consumer_names() -> list[str]:
    """Every consumer name that can be looked up, sorted."""
    return sorted(set(_registered) | set(_references()))


def find_consumer(name: str) -> Consumer | None:
    """The consumer registered as `name`, or None."""
    if name in _registered:
        return _registered[name]
    reference = _references().get(name)
    return _load(*reference) if reference else None


def get_consumer(name: str) -> Consumer:
    """The consumer registered as `name`; UnknownConsumerError naming the known ones if none."""
    consumer = find_consumer(name)
    if consumer is None:
        raise UnknownConsumerError(
            f"no consumer named {name!r}",
            hint=f"known: {', '.join(consumer_names())}; see docs/consumers.md to add yours",
        )
    return consumer


__all__ = ["Consumer", "UnknownConsumerError", "consumer_names", "find_consumer", "get_consumer", "register_consumer"]
