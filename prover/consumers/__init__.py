"""Consumers by name: the contracts `prover deploy NAME` / `prover submit NAME` drive.

Where a name is looked up, first match wins:
1. `register_consumer(MyConsumer())` from your own code (a notebook, a script: this
   process only);
2. `$PROVER_CONSUMERS`, comma-separated `module:attribute` references, for a consumer
   that is a file on your path and not (yet) a package;
3. the `prover.consumers` entry point group of an installed package
   (`[project.entry-points."prover.consumers"] mine = "mypkg.consumer:MyConsumer"`);
4. the built-in ones (`fee`, `digits`, `credit`). See docs/consumers.md.
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points
from typing import Any, cast

from prover.consumers.base import Consumer
from prover.errors import ProverError, first_line

ENTRY_POINT_GROUP = "prover.consumers"
ENVIRONMENT_VARIABLE = "PROVER_CONSUMERS"
_BUILT_IN = {
    "fee": "prover.consumers.fee.pool:FeeConsumer",
    "digits": "prover.consumers.digits:DigitLabelsConsumer",
    "credit": "prover.consumers.credit.consumer:CreditLineConsumer",
}
_registered: dict[str, Consumer] = {}


class UnknownConsumerError(ProverError):
    """No consumer is registered under this name."""


def register_consumer(consumer: Consumer) -> Consumer:
    """Make `consumer` available under `consumer.name` for this process (replacing any)."""
    _registered[consumer.name] = consumer
    return consumer


#: what `prover deploy` / `submit` call on a consumer: a reference without them is refused at once
_REQUIRED = ("name", "contract", "description", "constructor_args", "read_request", "submit_call", "outcome", "summary")


def _load(reference: str, origin: str) -> Consumer:
    """`module:attribute` -> a consumer instance (a class is instantiated with no arguments).

    Anything that goes wrong (the module fails to import, the class needs arguments, the
    object lacks the protocol) is one ProverError naming the reference, never a traceback.
    """
    module_name, _, attribute = reference.partition(":")
    try:
        found: Any = getattr(importlib.import_module(module_name), attribute)
        consumer = found() if isinstance(found, type) else found
    except Exception as exc:  # third-party code may raise anything on import
        reason = first_line(exc, 200)
        raise ProverError(
            f"cannot load consumer {reference!r} from {origin}: {reason}",
            hint="a reference is module.path:ClassName (or an instance)",
        ) from None
    missing = [member for member in _REQUIRED if not hasattr(consumer, member)]
    if missing:
        raise ProverError(
            f"{reference!r} from {origin} is not a consumer: it has no {', '.join(missing)}",
            hint="see docs/consumers.md for what a consumer provides",
        )
    return cast(Consumer, consumer)


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
