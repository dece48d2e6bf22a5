"""The outbox's SQLite file: where it lives, the lock that gives it one keeper, its schema, its
atomic creation, and how its rows become typed values.

One file per chain and market (`<workdir>/keeper/<chainId>-<market>.sqlite`), in WAL mode with
`synchronous=FULL`, so a transaction the outbox reports committed survives a crash of the
process and of the machine. The file is made whole in a temp file and renamed into place, so a
keeper killed while creating it leaves either no outbox or a complete one.

Exclusivity is an `flock` on a lock file beside the database, not SQLite's own locking: SQLite
lets a second process in between transactions, and two keepers on one key would hand out the
same nonces. The kernel drops an flock when its holder dies, SIGKILL included, so a crashed
keeper never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import sqlite3
import tempfile
from pathlib import Path

from prover.keeper.records import (
    Fees,
    InferenceRequest,
    OutboxError,
    OutboxLocked,
    RequestRow,
    RequestState,
    TxRow,
    TxState,
    UnsignedTx,
)

SCHEMA_VERSION = 1
#: SQLite's magic: the first 16 bytes of every database file
_SQLITE_MAGIC = b"SQLite format 3\x00"


def _states(enum: type[RequestState] | type[TxState]) -> str:
    return ", ".join(f"'{member.value}'" for member in enum)


# uint256 values (ids, wei amounts) are decimal TEXT: SQLite's integers are 64-bit.
SCHEMA = f"""
CREATE TABLE transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    request_ids TEXT NOT NULL,
    sender TEXT NOT NULL,
    nonce INTEGER NOT NULL,
    to_address TEXT NOT NULL,
    value TEXT NOT NULL,
    data TEXT NOT NULL,
    gas INTEGER NOT NULL,
    tx_hash TEXT NOT NULL,
    raw TEXT NOT NULL,
    max_fee TEXT NOT NULL,
    tip TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ({_states(TxState)})),
    block INTEGER,
    gas_used INTEGER,
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
-- at most one live transaction per nonce: a second one would be a double send
CREATE UNIQUE INDEX transactions_open_nonce ON transactions (sender, nonce) WHERE state IN ('signed', 'sent');
CREATE TABLE attempts (
    tx_id INTEGER NOT NULL REFERENCES transactions (id),
    number INTEGER NOT NULL,
    tx_hash TEXT NOT NULL UNIQUE,
    raw TEXT NOT NULL,
    max_fee TEXT NOT NULL,
    tip TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (tx_id, number)
);
CREATE TABLE requests (
    request_id TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    inputs TEXT NOT NULL,
    deadline TEXT NOT NULL,
    escrow TEXT NOT NULL,
    prover_fee TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ({_states(RequestState)})),
    lock_tx INTEGER REFERENCES transactions (id),
    fulfil_tx INTEGER REFERENCES transactions (id),
    error TEXT,
    updated_at REAL NOT NULL
);
CREATE INDEX requests_by_state ON requests (state);
CREATE TABLE cursor (
    name TEXT PRIMARY KEY,
    block INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
PRAGMA user_version = {SCHEMA_VERSION};
"""


def outbox_path(workdir: Path, chain_id: int, market: str, instance: str | None = None) -> Path:
    """Where the outbox of `market` on chain `chain_id` lives: one per pair, so a keeper moved
    to another chain or market starts from a clean record instead of resuming a foreign one.
    `instance` (the genesis hash) tells a restarted dev chain, which hands out the same
    market address and request ids again, from the run the outbox remembers."""
    stamp = f"-{instance.removeprefix('0x')[:12]}" if instance else ""
    return Path(workdir) / "keeper" / f"{int(chain_id)}{stamp}-{market.lower()}.sqlite"


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def acquire_lock(path: Path) -> int:
    """An exclusive flock on the outbox's lock file, as an open descriptor (closing it
    releases the lock); OutboxLocked naming the holder's pid if another keeper has it."""
    target = lock_path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise OutboxError(f"cannot open the outbox lock {target}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise OutboxLocked(f"outbox {path} is in use by another keeper (pid {holder})") from None
        raise OutboxError(f"cannot lock the outbox {path}: {exc.strerror}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_database(path: Path) -> None:
    """Write an empty outbox to a temp file beside `path` and rename it into place.

    Called with the lock held, so nobody else creates it meanwhile. A WAL or shared-memory
    file left by an earlier database of the same name is removed first: SQLite would replay
    it into the new one."""
    tmp_name = ""
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
        os.close(fd)
        conn = sqlite3.connect(tmp_name)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)
        finally:
            conn.close()  # checkpoints and removes the temp file's own -wal and -shm
        for suffix in ("-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        os.replace(tmp_name, path)
        _fsync_folder(path.parent)
    except (OSError, sqlite3.Error) as exc:
        raise OutboxError(f"cannot create the outbox {path}: {exc}") from None
    finally:
        if tmp_name:
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(OSError):
                    os.unlink(tmp_name + suffix)


def connect_database(path: Path) -> sqlite3.Connection:
    """Open an existing outbox for this process: WAL, full sync, foreign keys, and checks that
    the file is an outbox of this schema version (anything else is refused in one line)."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise OutboxError(f"cannot read the outbox {path}: {exc.strerror}") from None
    if magic != _SQLITE_MAGIC:
        raise OutboxError(f"{path} is not a keeper outbox (not an SQLite database)")
    # autocommit mode: every write is an explicit BEGIN IMMEDIATE ... COMMIT (Outbox._writing)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        conn.close()
        raise OutboxError(f"cannot open the outbox {path}: {exc}") from None
    if version != SCHEMA_VERSION or not {"requests", "transactions", "attempts", "cursor"} <= tables:
        conn.close()
        raise OutboxError(f"{path} is not a keeper outbox of schema version {SCHEMA_VERSION} (found {version})")
    return conn


# --- rows <-> Python values ---------------------------------------------------------------


def insert_request(conn: sqlite3.Connection, request: InferenceRequest, now: float) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO requests (request_id, model_id, version, inputs, deadline, escrow, prover_fee,"
        " state, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            str(request.request_id),
            str(request.model_id),
            request.version,
            json.dumps(list(request.inputs)),
            str(request.deadline),
            str(request.escrow),
            str(request.prover_fee),
            RequestState.SEEN,
            now,
        ),
    )


def request_row(row: sqlite3.Row) -> RequestRow:
    request = InferenceRequest(
        request_id=int(row["request_id"]),
        model_id=int(row["model_id"]),
        version=int(row["version"]),
        inputs=tuple(int(v) for v in json.loads(row["inputs"])),
        deadline=int(row["deadline"]),
        escrow=int(row["escrow"]),
        prover_fee=int(row["prover_fee"]),
    )
    return RequestRow(
        request=request,
        state=RequestState(row["state"]),
        lock_tx=row["lock_tx"],
        fulfil_tx=row["fulfil_tx"],
        error=row["error"],
        updated_at=float(row["updated_at"]),
    )


def tx_row(row: sqlite3.Row) -> TxRow:
    tx = UnsignedTx(
        kind=str(row["kind"]),
        request_ids=tuple(int(i) for i in json.loads(row["request_ids"])),
        sender=str(row["sender"]),
        nonce=int(row["nonce"]),
        to=str(row["to_address"]),
        value=int(row["value"]),
        data=bytes.fromhex(row["data"]),
        gas=int(row["gas"]),
    )
    return TxRow(
        id=int(row["id"]),
        tx=tx,
        tx_hash=str(row["tx_hash"]),
        raw=bytes.fromhex(row["raw"]),
        fees=Fees(int(row["max_fee"]), int(row["tip"])),
        attempts=int(row["attempts"]),
        state=TxState(row["state"]),
        block=row["block"],
        gas_used=row["gas_used"],
        error=row["error"],
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
    )
