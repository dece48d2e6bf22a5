"""The `prover` command line: a thin typer layer over the library.

`base` holds the app and the shared options, `render` everything drawn with rich; each
`*_commands` module registers one group of commands on the app, in the order `--help`
lists them. Importing this package wires them all up; `app` is the console script's
entry point.
"""

from prover.cli import (  # noqa: I001 - the order of registration is the order of `prover --help`
    circuit_commands,
    prove_commands,
    solidity_commands,
    chain_commands,
    pool_commands,
    credit_commands,
    market_commands,
    keeper_commands,
    registry_commands,
    deployment_commands,
    measure_commands,
    account_commands,
)
from prover.cli.base import app

__all__ = [
    "account_commands",
    "app",
    "chain_commands",
    "circuit_commands",
    "credit_commands",
    "deployment_commands",
    "keeper_commands",
    "market_commands",
    "measure_commands",
    "pool_commands",
    "prove_commands",
    "registry_commands",
    "solidity_commands",
]
