"""The one typed description of how a circuit is built.

Every ezkl run-arg we rely on is set here explicitly: ezkl's Python and CLI defaults
differ (DESIGN.md), so nothing is left to either. The CLI flags, the reference models'
tuned defaults and the manifest all go through this object.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Visibility = Literal["public", "private", "fixed", "hashed"]
CheckMode = Literal["safe", "unsafe"]


class CircuitConfig(BaseModel):
    """How to turn an ONNX graph into a circuit: visibilities, fixed-point scales, layout."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_visibility: Visibility = "public"
    output_visibility: Visibility = "public"
    param_visibility: Visibility = "fixed"
    onchain: bool = Field(
        default=True,
        description="Meant to be verified by a contract: private params are then refused.",
    )
    input_scale: int = Field(
        default=8,
        ge=0,
        le=24,
        description="Fixed-point bits of inputs; ezkl's calibration gives params the same scale.",
    )
    decomp_base: int = Field(default=1024, ge=2)
    decomp_legs: int = Field(default=3, ge=1)
    num_inner_cols: int = Field(default=1, ge=1)
    logrows: int | None = Field(default=None, ge=6, le=26, description="None: calibration picks it.")
    max_logrows: int = Field(default=20, ge=6, le=26)
    lookup_safety_margin: int = Field(default=2, ge=1)
    check_mode: CheckMode = "safe"
    calibrate_scales: bool = Field(
        default=False,
        description="Let ezkl's calibration search scales too, instead of keeping ours.",
    )

    @model_validator(mode="after")
    def _fixed_only_for_params(self) -> "CircuitConfig":
        for field in ("input_visibility", "output_visibility"):
            if getattr(self, field) == "fixed":
                raise ValueError(f"{field} cannot be 'fixed'; only params can be baked in")
        return self
