"""The reference models, by name.

Importing this package trains nothing and loads no data: each model builds its data
lazily on first use, so `prover models` can list them instantly.
"""

from __future__ import annotations

from functools import cache

from models.base import ReferenceModel
from models.digits import DigitsModel
from models.fee import FeeModel

#: registry key -> model class; the key is also the circuit's name
REGISTRY: dict[str, type[ReferenceModel]] = {
    FeeModel.name: FeeModel,
    DigitsModel.name: DigitsModel,
}


def model_names() -> list[str]:
    """Known model names, sorted, for CLI choices and error hints."""
    return sorted(REGISTRY)


@cache
def get_model(name: str) -> ReferenceModel:
    """The shared instance for `name`, so its cached datasets are built once per process.

    Raises KeyError naming the known models when `name` is not one of them.
    """
    try:
        cls = REGISTRY[name]
    except KeyError:
        known = ", ".join(model_names())
        raise KeyError(f"unknown model {name!r}; known models: {known}") from None
    return cls()


__all__ = ["REGISTRY", "ReferenceModel", "get_model", "model_names"]
