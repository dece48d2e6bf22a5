"""Settings stage: explicit visibilities and layout, then calibration on real data.

We start from our own run-args (never ezkl's defaults) and let ezkl's 'resources'
calibration size the lookup range and logrows on the calibration set. A pinned
`logrows` in the config may only raise what calibration found, never lower it.
"""

from __future__ import annotations

import json
from pathlib import Path

from prover import ezkl_api
from prover.artifacts import CircuitInfo, CircuitPaths, atomic_path
from prover.config import CircuitConfig
from prover.errors import SettingsError
from prover.export import OnnxSignature
from prover.inputs import Dataset, calibrated_range


def check_visibilities(config: CircuitConfig) -> None:
    """Refuse what would let a prover choose the model behind an on-chain verifier."""
    if config.onchain and config.param_visibility == "private":
        raise SettingsError(
            "params are 'private' but this circuit is meant for on-chain verification: "
            "the prover could pick any weights",
            hint="use --param-visibility fixed (or hashed), or --offchain",
        )


def make_settings(paths: CircuitPaths, config: CircuitConfig, calibration_file: Path) -> None:
    """gen_settings + calibrate into settings.json, atomically."""
    check_visibilities(config)
    with atomic_path(paths.settings) as tmp:
        ezkl_api.gen_settings(paths.onnx, tmp, config, paths.log)
        ezkl_api.calibrate(calibration_file, paths.onnx, tmp, config, paths.log)
        if config.logrows is not None:
            _raise_logrows(tmp, config.logrows)


def _raise_logrows(settings: Path, logrows: int) -> None:
    document = json.loads(settings.read_text())
    run_args = document["run_args"]
    if logrows < run_args["logrows"]:
        raise SettingsError(
            f"logrows {logrows} is below the {run_args['logrows']} this circuit needs",
            hint="drop --logrows to let calibration choose",
        )
    run_args["logrows"] = logrows
    settings.write_text(json.dumps(document))


def read_info(
    settings: Path, signature: OnnxSignature, calibration: Dataset, safety_margin: int
) -> CircuitInfo:
    """Facts later stages need, read back from ezkl's settings (not from our config)."""
    document = json.loads(settings.read_text())
    run_args = document["run_args"]
    return CircuitInfo(
        logrows=run_args["logrows"],
        num_rows=document["num_rows"],
        input_scales=document["model_input_scales"],
        output_scales=document["model_output_scales"],
        param_scale=run_args["param_scale"],
        input_shapes=signature.input_shapes,
        output_shapes=signature.output_shapes,
        input_range=calibrated_range(calibration, safety_margin),
    )


def visibilities(config: CircuitConfig) -> dict[str, str]:
    return {
        "input": config.input_visibility,
        "output": config.output_visibility,
        "params": config.param_visibility,
    }
