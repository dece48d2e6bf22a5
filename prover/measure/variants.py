"""Variants of a model's circuit, and the circuit each (model, variant) is built as.

A variant is a few changes to a model's own circuit config, written as tokens joined by
'+': `hashed-params`, `hashed-inputs`, `ezkl-default`, `batch-4`, ... Each (model,
variant) is an ordinary cached build under its own circuit name, so a variant built once
is never rebuilt. Every name and token is checked before anything is built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from models import REFERENCE_MODELS
from prover.artifacts import circuit_paths, readable_manifest
from prover.config import MAX_BATCH, CircuitConfig, checked_config
from prover.errors import SettingsError, UnknownModelError

#: what `prover compare` runs without --variants: every axis, one step each
DEFAULT_VARIANTS = ("tuned", "ezkl-default", "hashed-params", "hashed-inputs", "batch-4")
#: token -> circuit config overrides; `batch-N` is parsed apart
VARIANT_TOKENS: dict[str, dict[str, object]] = {
    "tuned": {"settings": "tuned"},
    "ezkl-default": {"settings": "ezkl-default"},
    "hashed-params": {"param_visibility": "hashed"},
    "hashed-inputs": {"input_visibility": "hashed"},
}
_BATCH_TOKEN = re.compile(r"^batch-(\d+)$")


@dataclass(frozen=True)
class VariantSet:
    """Models x variants, each row proved `runs` times: one comparison, named."""

    name: str
    models: tuple[str, ...]
    variants: tuple[str, ...]
    runs: int = 3


#: the compare notebook's default: one model, one step along each axis but the slowest to build
#: (hashed-params tunes longest); under 10 minutes from nothing on a shared 2-core machine
FAST_SET = VariantSet("fast", ("fee",), ("tuned", "ezkl-default", "hashed-inputs", "batch-2"))
#: the compare notebook with PROVER_NOTEBOOK_FULL=1: both reference models, two batch sizes
FULL_SET = VariantSet(
    "full",
    ("fee", "digits"),
    ("tuned", "ezkl-default", "hashed-params", "hashed-inputs", "batch-2", "batch-4"),
)


@dataclass(frozen=True)
class Variant:
    """A parsed variant: its canonical label, config overrides, and inputs per proof."""

    label: str
    overrides: dict[str, object] = field(default_factory=dict)
    batch: int = 1


@dataclass(frozen=True)
class PlannedRow:
    """One (model, variant) to measure, and the circuit it is built as."""

    model: str
    variant: Variant
    circuit: str

    @property
    def label(self) -> str:
        return f"{self.model} {self.variant.label}"


def parse_variant(spec: str) -> Variant:
    """`hashed-params+batch-4` -> Variant; an unknown token is a one-line SettingsError."""
    overrides: dict[str, object] = {}
    batch = 1
    tokens = [token.strip().lower() for token in spec.split("+") if token.strip()]
    if not tokens:
        raise SettingsError("empty variant", hint=_variant_hint())
    for token in tokens:
        if match := _BATCH_TOKEN.match(token):
            batch = int(match.group(1))
            if not 1 <= batch <= MAX_BATCH:
                raise SettingsError(
                    f"variant {spec!r}: batch size {batch} is out of range", hint=f"use batch-1 to batch-{MAX_BATCH}"
                )
        elif token in VARIANT_TOKENS:
            overrides.update(VARIANT_TOKENS[token])
        else:
            raise SettingsError(f"unknown variant {token!r} in {spec!r}", hint=_variant_hint())
    return Variant("+".join(tokens), overrides, batch)


def _variant_hint() -> str:
    return f"variants are {', '.join(VARIANT_TOKENS)} or batch-N, joined by '+' (e.g. hashed-params+batch-4)"


def plan_rows(models: list[str], variants: list[str], workdir: Path) -> list[PlannedRow]:
    """Check every name and variant before anything is built, so a typo costs nothing."""
    parsed = [parse_variant(spec) for spec in variants]
    plans = []
    for model in models:
        base = base_config(model, workdir)
        for variant in parsed:
            if variant.batch != 1 and model not in REFERENCE_MODELS:
                raise SettingsError(
                    f"variant {variant.label!r}: {model!r} is your own ONNX model, whose batch "
                    "size is fixed in its graph",
                    hint="export it with the batch size you want",
                )
            config = checked_config(base, variant.overrides)
            plans.append(PlannedRow(model, variant, _circuit_name(model, variant, config, base, workdir)))
    return plans


def base_config(model: str, workdir: Path) -> CircuitConfig:
    """A reference model's own config, or the config a user's circuit was built with."""
    if model in REFERENCE_MODELS:
        return REFERENCE_MODELS[model].circuit
    manifest = readable_manifest(circuit_paths(workdir, model))
    if manifest is None or manifest.source != "onnx":
        raise UnknownModelError(
            f"unknown model {model!r}: neither a reference model ({', '.join(sorted(REFERENCE_MODELS))}) "
            f"nor a circuit built from your ONNX in {workdir}",
            hint="build yours first: prover build --onnx FILE --name NAME --data FILE",
        )
    return manifest.config


def _circuit_name(model: str, variant: Variant, config: CircuitConfig, base: CircuitConfig, workdir: Path) -> str:
    """The model's own circuit when the variant changes nothing about it, else NAME__variant.

    Reusing the own circuit shares `prover build`'s work; a build of it with other
    options (say `--input-scale 9`) is left alone rather than overwritten.
    """
    if variant.batch == 1 and config == base:
        existing = readable_manifest(circuit_paths(workdir, model))
        if existing is None or (existing.config == config and existing.batch == 1):
            return model
    return variant_circuit_name(model, variant.label)


def variant_circuit_name(model: str, label: str) -> str:
    """`fee` + `hashed-params+batch-4` -> `fee__hashed_params__batch_4` (a valid circuit name)."""
    return f"{model}__{label.replace('-', '_').replace('+', '__')}"[:40]
