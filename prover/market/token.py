"""A test stablecoin for dev chains: what requesters pay in while trying the market out.

`TestStablecoin` (contracts/src/dev/) mints to anyone who asks, so it is deployed only
where that cannot matter: a local anvil (`is_dev_chain`). On any other chain the market
takes a real ERC-20 given by address.
"""

from __future__ import annotations

from pathlib import Path

from web3 import Web3
from web3.contract import Contract

from prover.errors import ChainError
from prover.evm.client import Chain, contract_at, deploy, transact
from prover.evm.deployments import record_contract, trusted
from prover.evm.node import is_dev_chain
from prover.market.contract import market_artifact
from prover.market.operations import Sent

TOKEN_KEY = "token"
TOKEN_CONTRACT = "TestStablecoin"


def _require_dev_chain(chain: Chain, action: str) -> None:
    if not is_dev_chain(chain.w3, chain.chain_id):
        raise ChainError(
            f"{action}: the test stablecoin mints to anyone, so it lives on dev chains only "
            f"(chain {chain.chain_id} is not a local anvil)",
            hint="pass a real ERC-20 with --token ADDRESS",
        )


def deploy_test_token(chain: Chain, workdir: Path) -> Contract:
    """Deploy the faucet token on a dev chain and record it as this workdir's token."""
    _require_dev_chain(chain, "prover token deploy")
    artifact = market_artifact(workdir, TOKEN_CONTRACT)
    deployed = deploy(chain, artifact)
    record_contract(chain, workdir, TOKEN_KEY, deployed, artifact)
    return contract_at(chain, deployed.address, artifact["abi"])


def recorded_token(chain: Chain, workdir: Path) -> str | None:
    """The test token this workdir deployed on this chain, while its code is there."""
    entry = trusted(chain, workdir, TOKEN_KEY)
    return str(entry["address"]) if entry else None


def token_address(chain: Chain, workdir: Path, given: str | None) -> str:
    """`--token`, else the recorded test token; a one-line error without either."""
    if given is not None:
        if not Web3.is_address(given):
            raise ChainError(f"--token {given!r} is not an address", hint="pass the ERC-20's 0x... address")
        return Web3.to_checksum_address(given)
    recorded = recorded_token(chain, workdir)
    if recorded is None:
        raise ChainError(
            f"no token given and none recorded for chain {chain.chain_id}",
            hint="pass --token ADDRESS, or on a dev chain run `prover token deploy`",
        )
    return recorded


def mint(chain: Chain, token: Contract, to: str, amount: int) -> Sent:
    """The faucet: `amount` units to `to` (dev chains only)."""
    _require_dev_chain(chain, "prover token mint")
    return Sent.of(transact(chain, token, "mint", Web3.to_checksum_address(to), amount))
