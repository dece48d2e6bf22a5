"""The reference models, by name.

Importing this package trains nothing, loads no data and does not import torch: a model's
module is imported when it is first looked up, and each model builds its data lazily on
first use, so `prover --help` and `prover compare --help` answer at once.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.base import ReferenceModel

#: registry key -> (module, class); the key is also the circuit's name
_CLASSES = {
    "fee": ("models.fee", "FeeModel"),
    "digits": ("models.digits", "DigitsModel"),
    "credit": ("models.credit", "CreditModel"),
}


class _ReferenceModels(Mapping[str, "type[ReferenceModel]"]):
    """name -> model class, each imported on first access."""

    def __getitem__(self, name: str) -> type[ReferenceModel]:
        module, attribute = _CLASSES[name]
        cls: type[ReferenceModel] = getattr(importlib.import_module(module), attribute)
        return cls

    def __iter__(self) -> Iterator[str]:
        return iter(_CLASSES)

    def __len__(self) -> int:
        return len(_CLASSES)

    def __contains__(self, name: object) -> bool:
        return name in _CLASSES


REFERENCE_MODELS: Mapping[str, type[ReferenceModel]] = _ReferenceModels()


def model_names() -> list[str]:
    """Known model names, sorted, for CLI choices and error hints."""
    return sorted(_CLASSES)


@cache
def get_model(name: str) -> ReferenceModel:
    """The shared instance for `name`, so its cached datasets are built once per process.

    Raises KeyError naming the known models when `name` is not one of them.
    """
    if name not in _CLASSES:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(model_names())}")
    return REFERENCE_MODELS[name]()


__all__ = ["REFERENCE_MODELS", "get_model", "model_names"]
