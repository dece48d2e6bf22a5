"""The keeper's loop (`prover serve`): watch the market, lock, prove a batch, fulfil.

Every step is driven by the outbox, so a keeper killed anywhere resumes where it was:
open transactions are settled first (`Sender.resume`), then each unfinished request takes
the next step `plan` reads off its row. Before any lock or fulfilment the request is read
on chain again (still open, not someone else's lock, our lock not lapsed, deadline not
too close): the market would refuse a second fulfilment anyway, but a keeper that checks
first never pays for the refusal.

Batches are the locks: the requests one lock transaction took are proved together and
settled by one fulfil, request k in slot k.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from web3.contract import Contract

from prover.errors import ChainError, TransactionReverted
from prover.evm.client import Chain, call, contract_at
from prover.keeper.metrics import KeeperMetrics
from prover.keeper.outbox import Outbox
from prover.keeper.records import FULFIL, LOCK, InferenceRequest, OutboxError, RequestRow, RequestState, TxRow
from prover.keeper.sender import Sender, StuckTransaction, TransactionReplaced
from prover.keeper.settings import (
    APPROVE,
    MAX_CONSECUTIVE_FAILURES,
    PERMANENT_REFUSALS,
    ServeConfig,
    Served,
    announced,
)
from prover.keeper.work import NextStep, Resumable
from prover.market.contract import RequestStatus, RequestView, read_offer, read_request
from prover.market.shape import batch_sample, check_slots
from prover.progress import Reporter
from prover.proving.backends import ProofTask, ProvingBackend


class Keeper:
    """One market, one key, the circuits in `served`."""

    def __init__(
        self,
        chain: Chain,
        market: Contract,
        token_abi: list[dict[str, Any]],
        outbox: Outbox,
        sender: Sender,
        served: Sequence[Served],
        backend: ProvingBackend,
        proof_dir: Path,
        *,
        config: ServeConfig | None = None,
        start_block: int = 0,
        reporter: Reporter | None = None,
        metrics: KeeperMetrics | None = None,
    ) -> None:
        self.chain, self.market, self.token_abi = chain, market, token_abi
        self.outbox, self.sender, self.backend = outbox, sender, backend
        self.served = {(s.model_id, s.version): s for s in served}
        self.proof_dir = proof_dir
        self.config = config or ServeConfig()
        self.start_block = start_block
        self.reporter = reporter or Reporter()
        self.metrics = metrics or KeeperMetrics()
        self.address = sender.address

    # --- the loop ---------------------------------------------------------------------------

    def run(self, stopping: Callable[[], bool] = lambda: False) -> None:
        """Resume, then step until `stopping()` (or, with `once`, until nothing is left)."""
        for row in self.sender.resume(wait=True):
            self._note(f"resumed transaction {row.id} ({row.kind}): {row.state}")
        failures = 0
        while not stopping():
            try:
                busy = self.step()
            except ChainError as exc:  # the node hiccupped (or a send was stuck): the outbox knows where we were
                if self.config.once or failures >= MAX_CONSECUTIVE_FAILURES:
                    raise
                failures += 1
                self.reporter.warn(f"{exc.message}; trying again ({failures} of {MAX_CONSECUTIVE_FAILURES})")
                time.sleep(min(2.0**failures, 60.0))
                continue
            failures = 0
            if self.config.once and not self.unfinished():
                return
            if not busy:
                time.sleep(self.config.poll_s)

    def step(self) -> bool:
        """One pass: scan, then advance every unfinished request once. True if anything moved."""
        moved = self.scan()
        work = self.outbox.pending_work(now=self._now())
        for item in work.by_step(NextStep.AWAIT):
            if item.tx is not None:
                self.sender.resume(wait=True)
                moved = True
                break
        work = self.outbox.pending_work(now=self._now())
        moved |= self._confirm(work.by_step(NextStep.CONFIRM))
        moved |= self._expire([item.request for item in work.by_step(NextStep.EXPIRE)])
        moved |= self._retry([item.request for item in work.by_step(NextStep.RETRY)])
        moved |= self._lock_ready([item.request for item in work.by_step(NextStep.DECIDE)])
        moved |= self._prove_and_fulfil()
        return moved

    def unfinished(self) -> list[RequestRow]:
        """Requests this keeper still has work on (those it skipped are not)."""
        items = self.outbox.pending_work(now=self._now()).requests
        return [item.request for item in items if self._ours(item.request.request)]

    # --- watching ---------------------------------------------------------------------------

    def scan(self) -> bool:
        """Record the requests announced since the cursor, up to the safe head; skip the ones
        this keeper does not serve or that pay too little."""
        head = self.sender.safe_block()
        cursor = self.outbox.cursor()
        first = self.start_block if cursor is None else cursor + 1
        if first > head:
            return False
        logs = self.market.events.Requested().get_logs(from_block=first, to_block=head)
        found = [announced(entry["args"]) for entry in logs]
        for request in found:
            known = self.outbox.request(request.request_id)
            if known is not None and known.request != request:
                raise OutboxError(
                    f"outbox {self.outbox.path} remembers request {request.request_id} differently from the chain: "
                    "it describes another history of this chain (a reverted dev chain, or a reorganisation)",
                    hint=f"move {self.outbox.path} aside; the keeper then reads every request afresh",
                )
        rows = self.outbox.record_scan(found, head)
        skipped = [row.request_id for row in rows if row.state is RequestState.SEEN and not self._ours(row.request)]
        if skipped:
            self.outbox.transition(RequestState.SKIPPED, *skipped, error="not a served model, or the fee is too low")
        self.metrics.count("seen", len(rows))
        self.metrics.count("skipped", len(skipped))
        for row in rows:
            state = "skipped" if row.request_id in skipped else "seen"
            self._note(f"request {row.request_id}: model {row.request.model_id} v{row.request.version}, {state}")
        return bool(rows)

    def _ours(self, request: InferenceRequest) -> bool:
        return (request.model_id, request.version) in self.served and request.prover_fee >= self.config.min_prover_fee

    # --- locking ----------------------------------------------------------------------------

    def _lock_ready(self, seen: Sequence[RequestRow]) -> bool:
        """Lock full batches, and partial ones whose oldest request waited `max_wait_s`."""
        groups: dict[tuple[int, int], list[RequestRow]] = defaultdict(list)
        for row in seen:
            if self._ours(row.request):
                groups[(row.request.model_id, row.request.version)].append(row)
        moved = False
        for key, rows in groups.items():
            lockable = self._still_lockable(rows)
            size = self.served[key].shape.batch_size
            while lockable:
                batch, lockable = lockable[:size], lockable[size:]
                waited = time.time() - min(row.updated_at for row in batch)
                if len(batch) < size and waited < self.config.max_wait_s and not self.config.once:
                    break
                moved |= self._lock(key, batch)
        return moved

    def _still_lockable(self, rows: Sequence[RequestRow]) -> list[RequestRow]:
        """The rows whose request may still be locked by us; the others are marked now."""
        now, keep = self._now(), []
        for row in rows:
            view = read_request(self.chain, self.market, row.request_id)
            if self._settled_elsewhere(row, view):
                continue
            if view.deadline < now + self.config.deadline_margin_s:
                self._move(RequestState.EXPIRED, [row.request_id], "deadline too close to prove in time", "expired")
            elif now <= view.locked_until and view.locker.lower() != self.address.lower():
                self._move(RequestState.SKIPPED, [row.request_id], f"locked by {view.locker}", "skipped")
            else:
                keep.append(row)
        return keep

    def _lock(self, key: tuple[int, int], batch: Sequence[RequestRow]) -> bool:
        ids = [row.request_id for row in batch]
        self._approve_stake(key[0], len(ids))
        self.outbox.transition(RequestState.LOCKING, *ids)
        data = self.market.encode_abi("lock", args=[ids])
        try:
            tx = self.sender.send(LOCK, self.market.address, data, request_ids=ids)
        except TransactionReverted as exc:  # raced by another prover, or the request moved on
            if exc.error_name in ("VersionNotServing", "VersionRevoked"):
                self._move(RequestState.SKIPPED, ids, exc.message, "skipped")
            else:  # the next pass reads each request on chain again
                self.outbox.transition(RequestState.SEEN, *ids, error=exc.message)
            self._note(f"lock of {ids} refused: {exc.message}")
            return True
        self._count_gas(tx)
        self._move(RequestState.LOCKED, ids, None, "locked")
        return True

    def _approve_stake(self, model_id: int, count: int) -> None:
        """Allow the market to take the stakes, with room for many more locks."""
        offer = read_offer(self.chain, self.market, model_id)
        needed = offer.lock_stake * count
        if needed == 0:
            return
        token = contract_at(self.chain, offer.token, self.token_abi)
        if int(call(self.chain, token, "allowance", self.address, self.market.address)) >= needed:
            return
        data = token.encode_abi("approve", args=[self.market.address, needed * 1000])
        self._count_gas(self.sender.send(APPROVE, token.address, data))

    # --- proving and fulfilling -------------------------------------------------------------

    def _prove_and_fulfil(self) -> bool:
        work = self.outbox.pending_work(now=self._now())
        batches: dict[int, list[RequestRow]] = defaultdict(list)
        for item in [*work.by_step(NextStep.PROVE), *work.by_step(NextStep.FULFIL)]:
            if item.request.lock_tx is not None:
                batches[item.request.lock_tx].append(item.request)
        moved = False
        for lock_tx, rows in sorted(batches.items()):
            moved |= self._settle_batch(lock_tx, sorted(rows, key=lambda r: r.request_id))
        return moved

    def _settle_batch(self, lock_tx: int, rows: list[RequestRow]) -> bool:
        served = self.served[(rows[0].request.model_id, rows[0].request.version)]
        views = [read_request(self.chain, self.market, row.request_id) for row in rows]
        live = [row for row, view in zip(rows, views, strict=True) if not self._settled_elsewhere(row, view)]
        now = self._now()
        lapsed = [
            row
            for row, view in zip(rows, views, strict=True)
            if row in live and not view.lock_held_by(self.address, now)
        ]
        if lapsed:  # our lock ran out before we got here: lock them again (the stake is forfeit)
            self._move(RequestState.SEEN, [row.request_id for row in lapsed], "our lock lapsed", "lost")
            live = [row for row in live if row not in lapsed]
        if not live:
            return True
        proof_out = self.proof_dir / f"lock-{lock_tx}.json"
        inputs = [list(row.request.inputs) for row in live]
        if all(row.state is RequestState.PROVED for row in live) and not proof_out.exists():
            ids = [row.request_id for row in live]
            self._move(RequestState.FAILED, ids, f"its proof {proof_out} is gone", "failed")
            return True
        if any(row.state is not RequestState.PROVED for row in live) and not self._prove(
            served, live, inputs, proof_out
        ):
            return True
        return self._fulfil(served, live, inputs, proof_out)

    def _prove(self, served: Served, rows: list[RequestRow], inputs: list[list[int]], proof_out: Path) -> bool:
        ids = [row.request_id for row in rows]
        for row in rows:
            if row.state is not RequestState.PROVING:
                self.outbox.transition(RequestState.PROVING, row.request_id)
        task = ProofTask(f"requests {ids}", batch_sample(served.circuit, served.shape, inputs), proof_out)
        outcome = next(iter(self.backend.prove_many(served.circuit, [task])))
        if outcome.error is not None:
            self._move(RequestState.FAILED, ids, outcome.error, "failed")
            return False
        self.metrics.proof_seconds.labels(served.circuit.name).observe(outcome.prove_seconds)
        self.outbox.transition(RequestState.PROVED, *ids)
        self._note(f"proved requests {ids} with {served.circuit.name} in {outcome.prove_seconds:.2f} s")
        return True

    def _fulfil(self, served: Served, rows: list[RequestRow], inputs: list[list[int]], proof_out: Path) -> bool:
        ids = [row.request_id for row in rows]
        proof = served.circuit.read_proof(proof_out)
        check_slots(served.circuit.name, served.shape, proof.instances, inputs)
        self.outbox.transition(RequestState.FULFILLING, *ids)
        data = self.market.encode_abi("fulfil", args=[ids, proof.raw, proof.instances])
        try:
            tx = self.sender.send(FULFIL, self.market.address, data, request_ids=ids)
        except TransactionReverted as exc:
            if exc.error_name in PERMANENT_REFUSALS:  # sending this proof again cannot help
                self._move(RequestState.FAILED, ids, exc.message, "failed")
            else:  # a lock that lapsed, a request refunded meanwhile: the next pass reads the chain
                self.outbox.transition(RequestState.PROVED, *ids, error=exc.message)
            self._note(f"fulfil of {ids} refused: {exc.message}")
            return True
        except (StuckTransaction, TransactionReplaced) as exc:
            self._note(f"fulfil of {ids}: {exc.message}")
            return True
        self._fulfilled(ids, tx)
        return True

    def _fulfilled(self, ids: list[int], tx: TxRow) -> None:
        self._count_gas(tx)
        self.metrics.inferences.inc(len(ids))
        for request_id in ids:
            row = self.outbox.request(request_id)
            if row is not None:
                self.metrics.earnings.labels(self.market.address).inc(row.request.prover_fee)
        self._move(RequestState.FULFILLED, ids, None, "fulfilled")
        per = (tx.gas_used or 0) // len(ids)
        self._note(f"fulfilled requests {ids} in {tx.tx_hash} (gas {tx.gas_used:,}, {per:,} per inference)")

    # --- after a restart, or when the chain moved under us -----------------------------------

    def _confirm(self, items: Sequence[Resumable]) -> bool:
        moved = False
        for item in items:
            row, tx = item.request, item.tx
            if tx is None:
                continue
            if row.state is RequestState.LOCKING:
                self._move(RequestState.LOCKED, [row.request_id], None, "locked")
            elif row.state is RequestState.FULFILLING:
                self._fulfilled([row.request_id], tx)
            moved = True
        return moved

    def _retry(self, rows: Sequence[RequestRow]) -> bool:
        """A lock or fulfil that never landed: back one step, after reading the chain."""
        for row in rows:
            view = read_request(self.chain, self.market, row.request_id)
            if self._settled_elsewhere(row, view):
                continue
            back = RequestState.SEEN if row.state is RequestState.LOCKING else RequestState.PROVED
            self.outbox.transition(back, row.request_id, error="its transaction did not land")
        return bool(rows)

    def _expire(self, rows: Sequence[RequestRow]) -> bool:
        for row in rows:
            view = read_request(self.chain, self.market, row.request_id)
            if not self._settled_elsewhere(row, view):
                self._move(RequestState.EXPIRED, [row.request_id], "deadline passed", "expired")
        return bool(rows)

    def _settled_elsewhere(self, row: RequestRow, view: RequestView) -> bool:
        """Mark a request the chain already settled; True if it was."""
        if view.status is RequestStatus.REFUNDED:
            self._move(RequestState.REFUNDED, [row.request_id], None, "refunded")
            return True
        if view.status is RequestStatus.FULFILLED:
            mine = view.locker.lower() == self.address.lower() and row.state is RequestState.FULFILLING
            target = RequestState.FULFILLED if mine else RequestState.SKIPPED
            note = None if mine else "fulfilled by another prover"
            self._move(target, [row.request_id], note, "fulfilled" if mine else "skipped")
            return True
        return False

    # --- bookkeeping ------------------------------------------------------------------------

    def _move(self, state: RequestState, ids: list[int], error: str | None, event: str | None) -> None:
        self.outbox.transition(state, *ids, error=error)
        if event is not None:
            self.metrics.count(event, len(ids))
        self._note(f"requests {ids}: {state}" + (f" ({error})" if error else ""))

    def _count_gas(self, tx: TxRow) -> None:
        self.metrics.gas.labels(tx.kind).inc(tx.gas_used or 0)

    def _now(self) -> int:
        return int(self.chain.w3.eth.get_block("latest")["timestamp"])

    def _note(self, message: str) -> None:
        self.reporter.note(message)
