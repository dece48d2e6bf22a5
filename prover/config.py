"""The one typed description of how a circuit is built.

Every ezkl run-arg we rely on is set here explicitly: ezkl's Python and CLI defaults
differ (DESIGN.md), so nothing is left to either. The CLI flags, the reference models'
tuned defaults and the manifest all go through this object.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from prover.errors import SettingsError

#: inferences per proof at most: one proof over more inputs outgrows every circuit we can set up here
MAX_BATCH = 64

Visibility = Literal["public", "private", "fixed", "hashed"]
CheckMode = Literal["safe", "unsafe"]
SettingsStrategy = Literal["tuned", "manual", "ezkl-default"]
Objective = Literal["prove", "gas", "balanced"]
Coverage = Literal["calibration", "input-box"]


class Layout(BaseModel):
    """One concrete point in settings space: what the tuner searches and ezkl receives.

    Unlike ezkl's calibration, input and param scales are independent here, and the
    lookup range and logrows are sized by us from witnesses (see prover/pipeline/sizing.py).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_scale: int = Field(ge=0, le=24)
    param_scale: int = Field(ge=0, le=24)
    scale_rebase_multiplier: int = Field(default=1, ge=1)
    decomp_base: int = Field(ge=2)
    decomp_legs: int = Field(ge=1)
    num_inner_cols: int = Field(default=1, ge=1)
    lookup_safety_margin: int = Field(default=2, ge=1)
    lookup_range: tuple[int, int] = (0, 0)
    logrows: int = Field(default=17, ge=6, le=26)

    def short(self) -> str:
        return (
            f"scales {self.input_scale}/{self.param_scale} x{self.scale_rebase_multiplier}, "
            f"decomp {self.decomp_base}^{self.decomp_legs}, cols {self.num_inner_cols}, "
            f"margin {self.lookup_safety_margin}, logrows {self.logrows}"
        )


class CircuitConfig(BaseModel):
    """How to turn an ONNX graph into a circuit: visibilities, then how settings are chosen.

    `settings` picks the strategy: "tuned" (default) searches scales and layout for the
    cheapest circuit that keeps the accuracy bounds below; "manual" uses exactly the
    scales and layout given here; "ezkl-default" is plain gen_settings + ezkl's
    'resources' calibration, the baseline `prover bench` compares against.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_visibility: Visibility = "public"
    output_visibility: Visibility = "public"
    param_visibility: Visibility = "fixed"
    onchain: bool = Field(
        default=True,
        description="Meant to be verified by a contract: private params are then refused.",
    )
    settings: SettingsStrategy = "tuned"
    input_scale: int = Field(
        default=8,
        ge=0,
        le=24,
        description="Fixed-point bits of inputs (manual); the centre of the tuner's scale search.",
    )
    param_scale: int | None = Field(default=None, ge=0, le=24, description="manual only; None: input_scale")
    scale_rebase_multiplier: int = Field(default=1, ge=1, description="manual only")
    decomp_base: int = Field(default=1024, ge=2)
    decomp_legs: int = Field(default=3, ge=1)
    num_inner_cols: int = Field(default=1, ge=1)
    logrows: int | None = Field(
        default=None, ge=6, le=26, description="None: measured (tuned, manual) or calibrated (ezkl-default)."
    )
    max_logrows: int = Field(
        default=24, ge=6, le=26, description="No circuit above this; the tuner's and ezkl's candidates alike."
    )
    lookup_safety_margin: int = Field(
        default=2,
        ge=1,
        description="Headroom over the calibration data's range; the tuner may widen it for free.",
    )
    coverage: Coverage = Field(
        default="calibration",
        description=(
            "What lookups and decompositions are sized for: 'calibration' (margin x what the calibration "
            "and held-out data reach, as ezkl's calibration does) or 'input-box' (also the corners of "
            "the accepted input range: any input prove accepts proves, at a higher cost)."
        ),
    )
    check_mode: CheckMode = "safe"
    max_error: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="tuned: one absolute bound on max |circuit - float| per output (replaces max_rel_error)",
    )
    max_rel_error: float | None = Field(
        default=0.01,
        gt=0,
        allow_inf_nan=False,
        description="tuned: bound on max |circuit - float| per output tensor, relative to its max magnitude",
    )
    decision: str | None = Field(
        default=None,
        description="tuned: 'argmax' or 'threshold:T' if the outputs are a classification (None: no decision)",
    )
    min_agreement: float = Field(
        default=1.0, ge=0, le=1, allow_inf_nan=False, description="tuned: share of equal decisions"
    )
    objective: Objective = "balanced"
    tune_budget: float = Field(
        default=120.0,
        ge=0,
        allow_inf_nan=False,
        description=(
            "tuned: seconds of work, estimated from circuit sizes (not a clock); then the best so far wins "
            "(0: ezkl's own calibrated settings, if they keep the bounds)"
        ),
    )

    def manual_layout(self) -> Layout:
        """The layout this config names explicitly (sized later: lookup range, logrows)."""
        return Layout(
            input_scale=self.input_scale,
            param_scale=self.input_scale if self.param_scale is None else self.param_scale,
            scale_rebase_multiplier=self.scale_rebase_multiplier,
            decomp_base=self.decomp_base,
            decomp_legs=self.decomp_legs,
            num_inner_cols=self.num_inner_cols,
            lookup_safety_margin=self.lookup_safety_margin,
        )

    @model_validator(mode="after")
    def _fixed_only_for_params(self) -> CircuitConfig:
        for field in ("input_visibility", "output_visibility"):
            if getattr(self, field) == "fixed":
                raise ValueError(f"{field} cannot be 'fixed'; only params can be baked in")
        return self


def checked_config(base: CircuitConfig, overrides: dict[str, object]) -> CircuitConfig:
    """`base` with `overrides` applied and validated (model_copy alone would not validate)."""
    try:
        return CircuitConfig.model_validate({**base.model_dump(), **overrides})
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(part) for part in problem["loc"]) or "settings"
        raise SettingsError(f"invalid {field}: {problem['msg']}", hint="see `prover build --help`") from None
