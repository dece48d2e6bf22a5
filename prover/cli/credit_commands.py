"""Private inputs: a borrower commits (`commit`), an attester signs (`attest`), the borrower
proves (`prove credit`) and applies (`apply`); the lender's owner manages attesters
(`prover credit attester`) and anyone reads a line (`prover credit status`).

`commit` is offline. The others work on the chain the lender's CreditLine lives on
(`--rpc-url` or $PROVER_RPC_URL; `prover deploy credit` records it in the workdir).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from prover.cli.base import (
    AccountOpt,
    JsonOpt,
    KeyOpt,
    PasswordFileOpt,
    WorkdirOpt,
    app,
    emit_json,
    handles_errors,
    signer,
)
from prover.cli.render import err, show_table, stdout, warn
from prover.errors import ChainError
from prover.proving.circuit import open_circuit

if TYPE_CHECKING:
    from web3.contract import Contract

    from prover.evm.client import Chain
    from prover.proving.circuit import Circuit

credit_app = typer.Typer(
    help="A lender's credit line: its attesters, and the terms it gave a borrower.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(credit_app, name="credit")

#: --private-key, --account, --password-file
SigningKey = tuple[Optional[str], Optional[str], Optional[Path]]
RpcOpt = Annotated[
    Optional[str],
    typer.Option("--rpc-url", envvar="PROVER_RPC_URL", help="The chain the credit line lives on (required)."),
]
LineOpt = Annotated[
    Optional[str],
    typer.Option("--credit-line", help="The CreditLine's address; default: the one `prover deploy credit` recorded."),
]
CircuitOpt = Annotated[str, typer.Option("--circuit", help="The hashed-input circuit (default: credit).")]


@contextmanager
def _on_line(
    rpc_url: str | None, key: SigningKey | None, workdir: Path, circuit_name: str, address: str | None
) -> Iterator[tuple[Chain, Circuit, Contract]]:
    """The lender's chain, the circuit and the CreditLine, signing with `key` (None: read only)."""
    from prover.consumers.credit.consumer import open_credit_line
    from prover.evm.client import connect

    if rpc_url is None:
        raise ChainError(
            "a credit line lives on a chain that outlasts one command",
            hint="start one with `prover node`, then pass --rpc-url URL (or set PROVER_RPC_URL)",
        )
    circuit = open_circuit(circuit_name, workdir)
    with connect(rpc_url, signer(*key) if key is not None else None) as chain:
        yield chain, circuit, open_credit_line(chain, circuit, address)


@app.command("commit")
@handles_errors
def commit_command(
    name: Annotated[str, typer.Argument(help="The hashed-input circuit whose input to commit to (credit).")],
    input_file: Annotated[
        Path, typer.Option("--input", "-i", help="The borrower's features: a JSON object (see docs/privacy.md).")
    ],
    out: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="The salted sample to write (secret); default: FEATURES.salted.json."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing salted file (and its salt).")] = False,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Add a fresh secret salt to your features, write the salted sample, print its commitment.

    The commitment is the Poseidon hash the circuit exposes: give it to your attester. Keep
    the salted file: you prove from it, and anyone who has it can link you to the commitment.
    """
    from prover.consumers.credit.commitment import commit

    circuit = open_circuit(name, workdir)
    salted_out = out or input_file.with_name(input_file.name.removesuffix(".json") + ".salted.json")
    made = commit(circuit, input_file, salted_out, overwrite=force)
    if json_out:
        emit_json({"commitment": made.hex, "salted_file": str(made.salted_file), "input_scale": made.input_scale})
        return
    stdout.print(made.hex, markup=False)
    err.print(f"salted sample (secret, owner-readable only): {made.salted_file}", soft_wrap=True, markup=False)


@app.command("attest")
@handles_errors
def attest_command(
    commitment: Annotated[str, typer.Option(help="The commitment `prover commit` printed (0x-hex).")],
    borrower: Annotated[str, typer.Option(help="The borrower's address: only they may apply with it.")],
    expiry: Annotated[
        str, typer.Option(help="Until when: a unix time, or a duration after the chain's latest block (30d, 12h).")
    ] = "30d",
    salted: Annotated[
        Optional[Path], typer.Option(help="The borrower's salted file: checked to hash to the commitment.")
    ] = None,
    features: Annotated[
        Optional[Path], typer.Option(help="The features you verified: checked to be what the commitment hides.")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the attestation.")] = Path(
        "attestation.json"
    ),
    credit_line: LineOpt = None,
    circuit: CircuitOpt = "credit",
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """As an attester, sign (EIP-712) that a commitment hides this borrower's true features.

    With --salted and --features (what an attester should always pass) the commitment is
    first checked to be the hash of that salted file, and its scores the encoding of those
    features. Nothing is sent: the signature is bound to this lender's contract and chain,
    and the borrower hands it in with `prover apply`.
    """
    from prover.consumers.credit.attestation import attest, parse_expiry, write_attestation
    from prover.consumers.credit.commitment import check_commitment_of, parse_commitment
    from prover.consumers.credit.line import check_lender
    from prover.errors import PrivateInputError
    from prover.evm.client import call

    value = parse_commitment(commitment)
    if (salted is None) != (features is None):
        raise PrivateInputError("pass --salted and --features together (or neither)")
    with _on_line(rpc_url, (private_key, account, password_file), workdir, circuit, credit_line) as (
        chain,
        built,
        line,
    ):
        if salted is not None and features is not None:
            check_commitment_of(built, value, salted, features)
        else:
            warn("signing a commitment unchecked: pass --salted and --features to check what it hides")
        check_lender(chain, line)
        now = int(chain.w3.eth.get_block("latest")["timestamp"])
        until = parse_expiry(expiry, now)
        if until < now:
            raise PrivateInputError(f"expiry {until} is before the chain's time {now}: the attestation would be dead")
        if not call(chain, line, "isAttester", chain.address):
            warn(f"{chain.address} is not an attester {line.address} trusts: `prover apply` will be refused")
        made = attest(chain.signer, value, borrower, until, chain.chain_id, line.address)
    write_attestation(out, made)
    if json_out:
        emit_json({**made.model_dump(), "file": str(out)})
        return
    show_table(
        "attestation",
        [
            ("commitment", made.commitment),
            ("borrower", made.borrower),
            ("expiry", str(made.expiry)),
            ("attester", made.attester),
            ("for", f"CreditLine {made.verifying_contract} on chain {made.chain_id}"),
            ("file", str(out)),
        ],
    )


@app.command("apply")
@handles_errors
def apply_command(
    proof: Annotated[Path, typer.Option(help="The proof `prover prove credit --input SALTED.json` wrote.")],
    attestation: Annotated[Path, typer.Option(help="The attestation file `prover attest` wrote.")],
    terms_version: Annotated[
        Optional[int],
        typer.Option(help="The terms version you accept (`prover credit terms`); default: the one in force now."),
    ] = None,
    credit_line: LineOpt = None,
    circuit: CircuitOpt = "credit",
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """As the borrower, send the proof and the attestation: the lender sets your limit and rate.

    The attestation's and the proof's checks are made first, under the contract's error
    names, and the transaction is simulated before it is signed: a refusal costs nothing.
    """
    from prover.consumers.credit.attestation import read_attestation
    from prover.consumers.credit.line import apply, terms_text

    with _on_line(rpc_url, (private_key, account, password_file), workdir, circuit, credit_line) as (
        chain,
        built,
        line,
    ):
        made = apply(chain, line, read_attestation(attestation), built.read_proof(proof), terms_version=terms_version)
    if json_out:
        emit_json(made.document())
        return
    show_table(
        "credit line",
        [
            ("borrower", made.borrower),
            ("probability of default", f"{made.pd_bps / 100:.2f} %"),
            ("terms", terms_text(made.limit, made.rate_bps)),
            ("attested by", made.attester),
            ("transaction", f"{made.tx_hash} (gas {made.gas_used:,})"),
        ],
    )


@credit_app.command("attester")
@handles_errors
def credit_attester_command(
    address: Annotated[str, typer.Argument(help="The attester's address.")],
    remove: Annotated[bool, typer.Option("--remove", help="Stop trusting it instead.")] = False,
    credit_line: LineOpt = None,
    circuit: CircuitOpt = "credit",
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
) -> None:
    """As the lender's owner, trust an attester (or, with --remove, stop trusting one)."""
    from prover.consumers.credit.line import set_attester

    with _on_line(rpc_url, (private_key, account, password_file), workdir, circuit, credit_line) as (
        chain,
        _,
        line,
    ):
        tx_hash = set_attester(chain, line, address, not remove)
    stdout.print(tx_hash, markup=False)
    err.print(f"{address} {'no longer trusted' if remove else 'trusted'} by {line.address}", markup=False)


@credit_app.command("status")
@handles_errors
def credit_status_command(
    borrower: Annotated[str, typer.Argument(help="The borrower whose line to show.")],
    credit_line: LineOpt = None,
    circuit: CircuitOpt = "credit",
    rpc_url: RpcOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """The terms a lender gave a borrower (read only: no key needed)."""
    from prover.consumers.credit.line import read_terms, terms_text
    from prover.errors import PrivateInputError

    with _on_line(rpc_url, None, workdir, circuit, credit_line) as (chain, _, line):
        from web3 import Web3

        if not Web3.is_address(borrower):
            raise PrivateInputError(f"borrower {borrower!r} is not an address")
        terms = read_terms(chain, line, Web3.to_checksum_address(borrower))
    document = {
        "borrower": terms.borrower,
        "probability_of_default_bps": terms.pd_bps,
        "limit": terms.limit,
        "rate_bps": terms.rate_bps,
        "updated_at": terms.updated_at,
    }
    if json_out:
        emit_json(document)
        return
    if terms.updated_at == 0:
        stdout.print(f"{terms.borrower} has no credit line at {line.address}", markup=False)
        return
    show_table(
        f"credit line of {terms.borrower}",
        [
            ("probability of default", f"{terms.pd_bps / 100:.2f} %"),
            ("terms", terms_text(terms.limit, terms.rate_bps)),
            ("set at", str(terms.updated_at)),
        ],
    )


@credit_app.command("terms")
@handles_errors
def credit_terms_command(
    min_limit: Annotated[Optional[int], typer.Option(help="Owner: the limit at the highest accepted PD.")] = None,
    max_limit: Annotated[Optional[int], typer.Option(help="Owner: the limit at PD 0.")] = None,
    min_rate_bps: Annotated[Optional[int], typer.Option(help="Owner: the rate at PD 0, in basis points.")] = None,
    max_rate_bps: Annotated[Optional[int], typer.Option(help="Owner: the rate at the highest accepted PD.")] = None,
    max_default_bps: Annotated[Optional[int], typer.Option(help="Owner: declined from this PD on (bps).")] = None,
    credit_line: LineOpt = None,
    circuit: CircuitOpt = "credit",
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """The lender's pricing and its version; with any option, the owner changes it (a new version)."""
    from dataclasses import asdict, replace

    from prover.consumers.credit.line import read_lender_terms, set_terms

    changes = {
        key: value
        for key, value in {
            "min_limit": min_limit,
            "max_limit": max_limit,
            "min_rate_bps": min_rate_bps,
            "max_rate_bps": max_rate_bps,
            "max_default_bps": max_default_bps,
        }.items()
        if value is not None
    }
    key = (private_key, account, password_file) if changes else None
    with _on_line(rpc_url, key, workdir, circuit, credit_line) as (chain, _, line):
        if changes:
            set_terms(chain, line, replace(read_lender_terms(chain, line), **changes))
        terms = read_lender_terms(chain, line)
    if json_out:
        emit_json(asdict(terms))
        return
    show_table(
        f"terms of {line.address} (version {terms.version})",
        [
            ("limit", f"{terms.max_limit:,} at PD 0 down to {terms.min_limit:,}"),
            ("rate", f"{terms.min_rate_bps / 100:.2f} % up to {terms.max_rate_bps / 100:.2f} % a year"),
            ("declined from", f"PD {terms.max_default_bps / 100:.2f} %"),
        ],
    )
