"""The inference market on chain: deploy it, find it, and read what it records.

One market per workdir and chain, recorded in the deployments like every contract the CLI
deploys (`market`), and found again only while its code is still there. Reads are typed
views of the contract's structs (`RequestView`, `OfferView`) so the CLI, the keeper and
the demo never index tuples by position.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.types import BlockIdentifier

from prover.errors import ChainError, ProverError
from prover.evm.client import Chain, call, contract_at, deploy
from prover.evm.deployments import has_code, record_contract, trusted
from prover.evm.solc import compile_project_contracts, load_artifact

MARKET_KEY = "market"
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


class RequestStatus(enum.IntEnum):
    """`RequestStatus` of IInferenceMarket.sol."""

    NONE = 0
    OPEN = 1
    FULFILLED = 2
    REFUNDED = 3


@dataclass(frozen=True)
class OfferView:
    """A model's `Offer` as the market holds it."""

    token: str
    payee: str
    price: int
    lock_stake: int
    lock_window: int
    version: int
    open: bool


@dataclass(frozen=True)
class RequestView:
    """A request's `RequestInfo`, with its id."""

    request_id: int
    requester: str
    model_id: int
    version: int
    status: RequestStatus
    deadline: int
    callback: str
    callback_gas_limit: int
    token: str
    owner_amount: int
    protocol_amount: int
    prover_fee: int
    inputs_hash: bytes
    locker: str
    locked_until: int
    stake: int

    @property
    def escrow(self) -> int:
        return self.owner_amount + self.protocol_amount + self.prover_fee

    def lock_held_by(self, address: str, now: int) -> bool:
        return self.locker.lower() == address.lower() and now <= self.locked_until


def market_artifact(workdir: Path, name: str = "InferenceMarket") -> dict[str, Any]:
    """A project contract's compiled JSON, compiled into the workdir's `out/` if missing."""
    compiled = workdir / "out" / f"{name}.json"
    if compiled.exists():
        return load_artifact(compiled, "prover market")
    return compile_project_contracts(workdir / "out")[name].artifact()


def deploy_market(chain: Chain, workdir: Path, registry: str, fee_recipient: str | None = None) -> Contract:
    """Deploy a market over `registry`, owned by the signer (protocol fees to it unless
    `fee_recipient`), and record it as this workdir's market on this chain."""
    if not has_code(chain, registry):
        raise ChainError(
            f"no contract at registry {registry} on chain {chain.chain_id}",
            hint="leave --registry out to use the chain's, or deploy one with `prover register NAME`",
        )
    artifact = market_artifact(workdir)
    owner = chain.address
    deployed = deploy(chain, artifact, Web3.to_checksum_address(registry), owner, fee_recipient or owner)
    record_contract(chain, workdir, MARKET_KEY, deployed, artifact, registry=Web3.to_checksum_address(registry))
    return contract_at(chain, deployed.address, artifact["abi"])


def open_market(chain: Chain, workdir: Path, address: str | None = None) -> Contract:
    """The market at `address`, else the one this workdir deployed on this chain."""
    abi = market_artifact(workdir)["abi"]
    if address is not None:
        if not has_code(chain, address):
            raise ChainError(
                f"no contract at --market {address} on chain {chain.chain_id}",
                hint="check the address and --rpc-url, or leave --market out for the workdir's",
            )
        return contract_at(chain, Web3.to_checksum_address(address), abi)
    entry = trusted(chain, workdir, MARKET_KEY)
    if entry is None:
        raise ChainError(
            f"no inference market recorded for chain {chain.chain_id} in this workdir",
            hint="run `prover market deploy` first, or pass --market ADDRESS",
        )
    return contract_at(chain, entry["address"], abi)


def read_offer(chain: Chain, market: Contract, model_id: int, block: BlockIdentifier = "latest") -> OfferView:
    raw = call(chain, market, "getOffer", model_id, block=block)
    return OfferView(
        token=str(raw[0]),
        payee=str(raw[1]),
        price=int(raw[2]),
        lock_stake=int(raw[3]),
        lock_window=int(raw[4]),
        version=int(raw[5]),
        open=bool(raw[6]),
    )


def read_request(chain: Chain, market: Contract, request_id: int, block: BlockIdentifier = "latest") -> RequestView:
    raw = call(chain, market, "getRequest", request_id, block=block)
    return RequestView(
        request_id=request_id,
        requester=str(raw[0]),
        model_id=int(raw[1]),
        version=int(raw[2]),
        status=RequestStatus(int(raw[3])),
        deadline=int(raw[4]),
        callback=str(raw[5]),
        callback_gas_limit=int(raw[6]),
        token=str(raw[7]),
        owner_amount=int(raw[8]),
        protocol_amount=int(raw[9]),
        prover_fee=int(raw[10]),
        inputs_hash=bytes(raw[11]),
        locker=str(raw[12]),
        locked_until=int(raw[13]),
        stake=int(raw[14]),
    )


def read_result(
    chain: Chain, market: Contract, request_id: int, block: BlockIdentifier = "latest"
) -> tuple[RequestStatus, list[int]]:
    status, outputs = call(chain, market, "resultOf", request_id, block=block)
    return RequestStatus(int(status)), [int(value) for value in outputs]


def token_contract(chain: Chain, workdir: Path, address: str) -> Contract:
    """An ERC-20 at `address` through the test token's ABI (a superset of IERC20's)."""
    if not has_code(chain, address):
        raise ChainError(
            f"no contract at token {address} on chain {chain.chain_id}",
            hint="check --token and --rpc-url; on a dev chain `prover token deploy` makes one",
        )
    return contract_at(chain, Web3.to_checksum_address(address), market_artifact(workdir, "TestStablecoin")["abi"])


def token_decimals(chain: Chain, token: Contract) -> int:
    """The token's decimals; 18 for a token without the optional `decimals()`."""
    try:
        return int(call(chain, token, "decimals"))
    except ChainError:
        return 18


def to_units(amount: str, decimals: int) -> int:
    """`"1.5"` of a 6-decimals token -> 1500000; more digits than the token has is an error."""
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise ProverError(f"{amount!r} is not an amount", hint="write it like 1.25") from None
    units = value * (Decimal(10) ** decimals)
    if value < 0 or units != units.to_integral_value():
        raise ProverError(
            f"{amount} is not a whole number of the token's units ({decimals} decimals)",
            hint=f"give at most {decimals} digits after the point, and no negative amount",
        )
    return int(units)


def from_units(units: int, decimals: int) -> str:
    """1500000 of a 6-decimals token -> `"1.5"`."""
    text = f"{Decimal(units).scaleb(-decimals):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
