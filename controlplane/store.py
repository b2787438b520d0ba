"""Persistence for the control plane: SQLite in WAL mode under the data dir.

Sessions are stored as their protobuf, sealed (`record_cipher`: they hold proxy passwords,
cookies and tokens), plus the columns queries need. Writes are small and synchronous (a WAL
commit with synchronous=NORMAL takes tens of microseconds, sealing a few more), so they run on
the event loop thread without a pool. The database and its -wal and -shm files are 0600
(SQLite gives the -wal and -shm files the mode of the database file).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import sqlite3
import time
from collections.abc import Iterable

from browserplane.times import timestamp
from browserplane.v1 import controlplane_pb2, session_pb2
from controlplane.record_cipher import RecordCipher, is_sealed

SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
  id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, created_at REAL NOT NULL,
  max_concurrent_sessions INTEGER NOT NULL DEFAULT 0,
  default_timeout_seconds INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS api_keys (
  key_hash TEXT PRIMARY KEY, project_id TEXT NOT NULL REFERENCES projects(id),
  created_at REAL NOT NULL, prefix TEXT NOT NULL
);
-- id, expires_at and revoked_at of api_keys are added by _migrate (older databases lack them).
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY, project_id TEXT NOT NULL, state INTEGER NOT NULL, node_id TEXT,
  created_at REAL NOT NULL, started_at REAL, ended_at REAL, data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_project ON sessions(project_id, created_at);
CREATE INDEX IF NOT EXISTS sessions_state ON sessions(state);
CREATE TABLE IF NOT EXISTS nodes (
  id TEXT PRIMARY KEY, data BLOB NOT NULL, updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS profiles (
  id TEXT PRIMARY KEY, project_id TEXT NOT NULL, data BLOB NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS extensions (
  id TEXT PRIMARY KEY, project_id TEXT NOT NULL, data BLOB NOT NULL, created_at REAL NOT NULL
);
-- A vault's whole record (credentials, credit card) sealed under "vault:" + its id.
CREATE TABLE IF NOT EXISTS vaults (
  id TEXT PRIMARY KEY, project_id TEXT NOT NULL, data BLOB NOT NULL, created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS vaults_project ON vaults(project_id, created_at);
-- A persona sealed under "persona:" + id; its address is found by its SHA-256 (address_hash),
-- so no address is readable in the file. Mails are sealed one by one ("persona_email:" + id).
CREATE TABLE IF NOT EXISTS personas (
  id TEXT PRIMARY KEY, project_id TEXT NOT NULL, address_hash TEXT UNIQUE NOT NULL,
  data BLOB NOT NULL, created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS personas_project ON personas(project_id, created_at);
CREATE TABLE IF NOT EXISTS persona_emails (
  id TEXT PRIMARY KEY, persona_id TEXT NOT NULL REFERENCES personas(id) ON DELETE CASCADE,
  received_at REAL NOT NULL, read INTEGER NOT NULL DEFAULT 0, data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS persona_emails_persona ON persona_emails(persona_id, received_at);
-- Background calls that outlive memory (RunAgent: an agent's status outlives its session and
-- a restart), the whole Call sealed under "call:" + its id (it holds the task and every step).
CREATE TABLE IF NOT EXISTS calls (
  id TEXT PRIMARY KEY, project_id TEXT NOT NULL, method TEXT NOT NULL, session_id TEXT NOT NULL,
  state INTEGER NOT NULL, created_at REAL NOT NULL, data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_project ON calls(project_id, created_at);
-- What sessions produced (screenshots, recordings, downloads): the Artifact sealed under
-- "artifact:" + id (names and download URLs can say who the user is); the bytes are a blob
-- file (controlplane/artifacts.py), sealed too. Kept past their session until expires_at.
CREATE TABLE IF NOT EXISTS artifacts (
  id TEXT PRIMARY KEY, project_id TEXT NOT NULL, session_id TEXT NOT NULL, kind INTEGER NOT NULL,
  size INTEGER NOT NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL, data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS artifacts_session ON artifacts(session_id, created_at);
CREATE INDEX IF NOT EXISTS artifacts_project ON artifacts(project_id, created_at);
CREATE INDEX IF NOT EXISTS artifacts_expiry ON artifacts(expires_at);
CREATE TABLE IF NOT EXISTS idempotency (
  project_id TEXT NOT NULL, key TEXT NOT NULL, session_id TEXT NOT NULL, created_at REAL NOT NULL,
  PRIMARY KEY (project_id, key)
);
"""

LIVE_STATES = (session_pb2.PENDING, session_pb2.RUNNING)
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


@dataclasses.dataclass(frozen=True)
class KeyRecord:
    id: str
    project_id: str
    expires_at: float | None
    revoked_at: float | None


def _seconds(stamp: object) -> float | None:
    if stamp is None or not stamp.seconds and not stamp.nanos:  # type: ignore[attr-defined]
        return None
    return stamp.ToNanoseconds() / 1e9  # type: ignore[attr-defined]


class Store:
    """`cipher` seals session records; without one (the CLI's key commands) the store reads
    and writes projects and keys only."""

    def __init__(self, path: pathlib.Path, cipher: RecordCipher | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.cipher = cipher
        if not path.exists():  # created 0600 before SQLite opens it
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(SCHEMA)
        self._migrate()
        self.restrict_files()

    def restrict_files(self) -> None:
        """0600 on the database files (ones made by older versions may be wider)."""
        for suffix in SQLITE_SUFFIXES:
            try:
                os.chmod(f"{self.path}{suffix}", 0o600)
            except FileNotFoundError:
                pass

    def _migrate(self) -> None:
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(api_keys)")}
        for name, kind in (("id", "TEXT"), ("expires_at", "REAL"), ("revoked_at", "REAL")):
            if name not in columns:
                self.db.execute(f"ALTER TABLE api_keys ADD COLUMN {name} {kind}")
        self.db.execute("UPDATE api_keys SET id = 'key_' || substr(key_hash, 1, 16) WHERE id IS NULL")
        self.db.execute("CREATE UNIQUE INDEX IF NOT EXISTS api_keys_id ON api_keys(id)")

    def seal_plaintext_sessions(self) -> int:
        """Seals session records written before sealing existed; checks the key opens the
        sealed ones (raises record_cipher.WrongKey). Answers how many were sealed."""
        assert self.cipher is not None
        sealed = 0
        checked = False
        rows = self.db.execute("SELECT id, data FROM sessions").fetchall()
        for session_id, data in rows:
            if is_sealed(data):
                if not checked:
                    self.cipher.open(data, session_id)
                    checked = True
                continue
            self.db.execute("UPDATE sessions SET data=? WHERE id=?",
                            (self.cipher.seal(data, session_id), session_id))
            sealed += 1
        if sealed:  # the plaintext may linger in free pages and the WAL
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.db.execute("VACUUM")
        return sealed

    def _seal(self, data: bytes, session_id: str) -> bytes:
        if self.cipher is None:
            raise RuntimeError("this store was opened without the secret key")
        return self.cipher.seal(data, session_id)

    def _session(self, session_id: str, data: bytes) -> session_pb2.Session:
        if self.cipher is None:
            raise RuntimeError("this store was opened without the secret key")
        return session_pb2.Session.FromString(self.cipher.open(data, session_id))

    def close(self) -> None:
        self.db.close()

    # -- projects and keys ---------------------------------------------------------------

    def project_by_name(self, name: str) -> controlplane_pb2.Project | None:
        row = self.db.execute("SELECT * FROM projects WHERE name=?", (name,)).fetchone()
        return _project(row) if row else None

    def project(self, project_id: str) -> controlplane_pb2.Project | None:
        row = self.db.execute("SELECT * FROM projects WHERE id=?", (project_id,)).fetchone()
        return _project(row) if row else None

    def projects(self) -> list[controlplane_pb2.Project]:
        return [_project(r) for r in self.db.execute("SELECT * FROM projects ORDER BY created_at")]

    def create_project(self, project_id: str, name: str) -> controlplane_pb2.Project:
        self.db.execute("INSERT INTO projects(id, name, created_at) VALUES (?,?,?)",
                        (project_id, name, time.time()))
        project = self.project(project_id)
        assert project is not None
        return project

    def set_project_limit(self, project_id: str, max_concurrent: int) -> None:
        self.db.execute("UPDATE projects SET max_concurrent_sessions=? WHERE id=?",
                        (max_concurrent, project_id))

    def add_key(self, key_hash: str, key_id: str, project_id: str, prefix: str,
                expires_at: float | None) -> None:
        self.db.execute("INSERT INTO api_keys(key_hash, id, project_id, created_at, prefix, "
                        "expires_at) VALUES (?,?,?,?,?,?)",
                        (key_hash, key_id, project_id, time.time(), prefix, expires_at))

    def key_record(self, key_hash: str) -> KeyRecord | None:
        row = self.db.execute("SELECT id, project_id, expires_at, revoked_at FROM api_keys "
                              "WHERE key_hash=?", (key_hash,)).fetchone()
        return KeyRecord(*row) if row else None

    def api_key(self, key_id: str) -> controlplane_pb2.ApiKey | None:
        row = self.db.execute(KEY_QUERY + " WHERE k.id=?", (key_id,)).fetchone()
        return _api_key(row) if row else None

    def api_keys(self, project_id: str | None) -> list[controlplane_pb2.ApiKey]:
        sql, args = KEY_QUERY, ()
        if project_id is not None:
            sql, args = sql + " WHERE k.project_id=?", (project_id,)
        return [_api_key(r) for r in self.db.execute(sql + " ORDER BY k.created_at", args)]

    def revoke_key(self, key_id: str, at: float) -> None:
        self.db.execute("UPDATE api_keys SET revoked_at=? WHERE id=? AND revoked_at IS NULL",
                        (at, key_id))

    def set_key_expiry(self, key_id: str, at: float) -> None:
        self.db.execute("UPDATE api_keys SET expires_at=? WHERE id=?", (at, key_id))

    # -- sessions ------------------------------------------------------------------------

    def save_session(self, s: session_pb2.Session) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO sessions(id, project_id, state, node_id, created_at, "
            "started_at, ended_at, data) VALUES (?,?,?,?,?,?,?,?)",
            (s.id, s.project_id, s.state, s.node_id or None, _seconds(s.created_at),
             _seconds(s.started_at), _seconds(s.ended_at),
             self._seal(s.SerializeToString(), s.id)),
        )

    def session(self, session_id: str) -> session_pb2.Session | None:
        row = self.db.execute("SELECT data FROM sessions WHERE id=?", (session_id,)).fetchone()
        return self._session(session_id, row[0]) if row else None

    def live_sessions(self) -> list[session_pb2.Session]:
        rows = self.db.execute("SELECT id, data FROM sessions WHERE state IN (?,?)", LIVE_STATES)
        return [self._session(r[0], r[1]) for r in rows]

    def list_sessions(self, project_id: str | None, states: Iterable[int],
                      before: tuple[float, str] | None, limit: int) -> list[session_pb2.Session]:
        """Newest first; `before` is the (created_at, id) of the last row of the previous page."""
        where, args = _session_filter(project_id, states)
        sql = "SELECT id, data FROM sessions WHERE " + where
        if before is not None:
            sql += " AND (created_at < ? OR (created_at = ? AND id < ?))"
            args += [before[0], before[0], before[1]]
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        args.append(limit)
        return [self._session(r[0], r[1]) for r in self.db.execute(sql, args)]

    def count_sessions(self, project_id: str | None, states: Iterable[int]) -> int:
        where, args = _session_filter(project_id, states)
        return self.db.execute("SELECT COUNT(*) FROM sessions WHERE " + where, args).fetchone()[0]

    def usage(self, project_id: str) -> tuple[float, int]:
        """(browser seconds, sessions) of a project, running ones counted up to now."""
        row = self.db.execute(
            "SELECT COALESCE(SUM(COALESCE(ended_at, ?) - started_at), 0), COUNT(*) "
            "FROM sessions WHERE project_id=? AND started_at IS NOT NULL",
            (time.time(), project_id)).fetchone()
        return float(row[0]), int(row[1])

    def remember_idempotency(self, project_id: str, key: str, session_id: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO idempotency VALUES (?,?,?,?)",
                        (project_id, key, session_id, time.time()))

    def idempotent_session(self, project_id: str, key: str, max_age: float) -> str | None:
        row = self.db.execute("SELECT session_id FROM idempotency WHERE project_id=? AND key=? "
                              "AND created_at > ?", (project_id, key, time.time() - max_age)
                              ).fetchone()
        return row[0] if row else None

    # -- nodes ---------------------------------------------------------------------------

    def save_node(self, node: controlplane_pb2.Node) -> None:
        self.db.execute("INSERT OR REPLACE INTO nodes VALUES (?,?,?)",
                        (node.id, node.SerializeToString(), time.time()))

    def nodes(self) -> list[controlplane_pb2.Node]:
        return [controlplane_pb2.Node.FromString(r[0])
                for r in self.db.execute("SELECT data FROM nodes")]

    # -- profiles and extensions ---------------------------------------------------------

    def save_profile(self, p: controlplane_pb2.Profile) -> None:
        self.db.execute("INSERT OR REPLACE INTO profiles VALUES (?,?,?,?)",
                        (p.id, p.project_id, p.SerializeToString(), _seconds(p.created_at)))

    def profile(self, profile_id: str) -> controlplane_pb2.Profile | None:
        row = self.db.execute("SELECT data FROM profiles WHERE id=?", (profile_id,)).fetchone()
        return controlplane_pb2.Profile.FromString(row[0]) if row else None

    def profiles(self, project_id: str, offset: int, limit: int) -> list[controlplane_pb2.Profile]:
        rows = self.db.execute("SELECT data FROM profiles WHERE project_id=? ORDER BY created_at, "
                               "id LIMIT ? OFFSET ?", (project_id, limit, offset))
        return [controlplane_pb2.Profile.FromString(r[0]) for r in rows]

    def delete_profile(self, profile_id: str) -> None:
        self.db.execute("DELETE FROM profiles WHERE id=?", (profile_id,))

    def save_extension(self, e: controlplane_pb2.Extension) -> None:
        self.db.execute("INSERT OR REPLACE INTO extensions VALUES (?,?,?,?)",
                        (e.id, e.project_id, e.SerializeToString(), _seconds(e.created_at)))

    def extension(self, extension_id: str) -> controlplane_pb2.Extension | None:
        row = self.db.execute("SELECT data FROM extensions WHERE id=?",
                              (extension_id,)).fetchone()
        return controlplane_pb2.Extension.FromString(row[0]) if row else None

    def delete_extension(self, extension_id: str) -> None:
        self.db.execute("DELETE FROM extensions WHERE id=?", (extension_id,))

    # -- vaults (always sealed: they hold passwords and card numbers) ----------------------

    def save_vault(self, v: controlplane_pb2.StoredVault) -> None:
        vault_id = v.vault.id
        self.db.execute("INSERT OR REPLACE INTO vaults VALUES (?,?,?,?)",
                        (vault_id, v.vault.project_id,
                         self._seal(v.SerializeToString(), "vault:" + vault_id),
                         _seconds(v.vault.created_at)))

    def vault(self, vault_id: str) -> controlplane_pb2.StoredVault | None:
        row = self.db.execute("SELECT data FROM vaults WHERE id=?", (vault_id,)).fetchone()
        return self._vault(vault_id, row[0]) if row else None

    def vaults(self, project_id: str, offset: int, limit: int) -> list[controlplane_pb2.StoredVault]:
        rows = self.db.execute("SELECT id, data FROM vaults WHERE project_id=? ORDER BY created_at, "
                               "id LIMIT ? OFFSET ?", (project_id, limit, offset))
        return [self._vault(r[0], r[1]) for r in rows]

    def count_vaults(self, project_id: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM vaults WHERE project_id=?",
                               (project_id,)).fetchone()[0]

    def delete_vault(self, vault_id: str) -> None:
        self.db.execute("DELETE FROM vaults WHERE id=?", (vault_id,))

    def _vault(self, vault_id: str, data: bytes) -> controlplane_pb2.StoredVault:
        if self.cipher is None:
            raise RuntimeError("this store was opened without the secret key")
        return controlplane_pb2.StoredVault.FromString(self.cipher.open(data, "vault:" + vault_id))

    # -- background calls kept past memory (sealed: an agent's task and steps) -------------

    def save_call(self, call: controlplane_pb2.Call, project_id: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO calls VALUES (?,?,?,?,?,?,?)",
                        (call.id, project_id, call.method, call.session_id, call.state,
                         _seconds(call.created_at) or time.time(),
                         self._seal(call.SerializeToString(), "call:" + call.id)))

    def call(self, call_id: str) -> tuple[str, controlplane_pb2.Call] | None:
        row = self.db.execute("SELECT project_id, data FROM calls WHERE id=?", (call_id,)).fetchone()
        return (row[0], self._call(call_id, row[1])) if row else None

    def calls(self, project_id: str | None, session_id: str = "", method: str = "",
              state: int | None = None) -> list[tuple[str, controlplane_pb2.Call]]:
        """(project, call) pairs, newest first."""
        sql, args = "SELECT id, project_id, data FROM calls WHERE 1=1", []
        for column, value in (("project_id", project_id), ("session_id", session_id or None),
                              ("method", method or None), ("state", state)):
            if value is not None:
                sql += f" AND {column}=?"
                args.append(value)
        rows = self.db.execute(sql + " ORDER BY created_at DESC, id DESC", args)
        return [(r[1], self._call(r[0], r[2])) for r in rows]

    def prune_calls(self, project_id: str, keep: int) -> None:
        """Keeps a project's newest `keep` calls."""
        self.db.execute("DELETE FROM calls WHERE project_id=? AND id NOT IN (SELECT id FROM calls "
                        "WHERE project_id=? ORDER BY created_at DESC, id DESC LIMIT ?)",
                        (project_id, project_id, keep))

    def _call(self, call_id: str, data: bytes) -> controlplane_pb2.Call:
        if self.cipher is None:
            raise RuntimeError("this store was opened without the secret key")
        return controlplane_pb2.Call.FromString(self.cipher.open(data, "call:" + call_id))


    # -- artifacts (sealed: names, URLs; the bytes live in blob files) ---------------------

    def save_artifact(self, a: controlplane_pb2.Artifact) -> None:
        self.db.execute("INSERT OR REPLACE INTO artifacts VALUES (?,?,?,?,?,?,?,?)",
                        (a.id, a.project_id, a.session_id, a.kind, a.size_bytes,
                         _seconds(a.created_at) or time.time(), _seconds(a.expires_at) or 0.0,
                         self._seal(a.SerializeToString(), "artifact:" + a.id)))

    def artifact(self, artifact_id: str) -> controlplane_pb2.Artifact | None:
        row = self.db.execute("SELECT data FROM artifacts WHERE id=?", (artifact_id,)).fetchone()
        return self._artifact(artifact_id, row[0]) if row else None

    def artifacts(self, project_id: str | None, session_id: str, kind: int, offset: int,
                  limit: int) -> tuple[list[controlplane_pb2.Artifact], int]:
        """A session's oldest first; a project's (no session named) newest first; and the total."""
        where, args = " WHERE 1=1", []
        for column, value in (("project_id", project_id), ("session_id", session_id or None),
                              ("kind", kind or None)):
            if value is not None:
                where += f" AND {column}=?"
                args.append(value)
        order = "created_at, id" if session_id else "created_at DESC, id DESC"
        total = self.db.execute("SELECT COUNT(*) FROM artifacts" + where, args).fetchone()[0]
        rows = self.db.execute(f"SELECT id, data FROM artifacts{where} ORDER BY {order} "
                               "LIMIT ? OFFSET ?", [*args, limit, offset])
        return [self._artifact(r[0], r[1]) for r in rows], total

    def artifact_usage(self, column: str, value: str) -> tuple[int, int]:
        """(count, bytes) of a session's or a project's artifacts."""
        assert column in ("session_id", "project_id")
        row = self.db.execute(f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM artifacts "
                              f"WHERE {column}=?", (value,)).fetchone()
        return int(row[0]), int(row[1])

    def oldest_artifacts(self, project_id: str, limit: int) -> list[tuple[str, int]]:
        return [(r[0], int(r[1])) for r in self.db.execute(
            "SELECT id, size FROM artifacts WHERE project_id=? ORDER BY created_at, id LIMIT ?",
            (project_id, limit))]

    def expired_artifacts(self, now: float, retention: float) -> list[str]:
        """Artifacts past their expiry or older than `retention` seconds."""
        return [r[0] for r in self.db.execute(
            "SELECT id FROM artifacts WHERE expires_at<=? OR created_at<=?", (now, now - retention))]

    def artifact_ids(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT id FROM artifacts")}

    def delete_artifact(self, artifact_id: str) -> None:
        self.db.execute("DELETE FROM artifacts WHERE id=?", (artifact_id,))

    def _artifact(self, artifact_id: str, data: bytes) -> controlplane_pb2.Artifact:
        if self.cipher is None:
            raise RuntimeError("this store was opened without the secret key")
        return controlplane_pb2.Artifact.FromString(self.cipher.open(data, "artifact:" + artifact_id))

    # -- personas and their mail (sealed: names, addresses, mail bodies) -------------------

    def save_persona(self, p: controlplane_pb2.Persona, address_hash: str) -> None:
        """Raises sqlite3.IntegrityError when another persona has the address."""
        self.db.execute("INSERT OR REPLACE INTO personas VALUES (?,?,?,?,?)",
                        (p.id, p.project_id, address_hash,
                         self._seal(p.SerializeToString(), "persona:" + p.id),
                         _seconds(p.created_at)))

    def persona(self, persona_id: str) -> controlplane_pb2.Persona | None:
        row = self.db.execute("SELECT id, data FROM personas WHERE id=?", (persona_id,)).fetchone()
        return self._persona(*row) if row else None

    def persona_by_address(self, address_hash: str) -> controlplane_pb2.Persona | None:
        row = self.db.execute("SELECT id, data FROM personas WHERE address_hash=?",
                              (address_hash,)).fetchone()
        return self._persona(*row) if row else None

    def personas(self, project_id: str, offset: int, limit: int) -> list[controlplane_pb2.Persona]:
        rows = self.db.execute("SELECT id, data FROM personas WHERE project_id=? ORDER BY "
                               "created_at, id LIMIT ? OFFSET ?", (project_id, limit, offset))
        return [self._persona(*r) for r in rows]

    def count_personas(self, project_id: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM personas WHERE project_id=?",
                               (project_id,)).fetchone()[0]

    def delete_persona(self, persona_id: str) -> None:
        self.db.execute("DELETE FROM personas WHERE id=?", (persona_id,))  # mails cascade

    def _persona(self, persona_id: str, data: bytes) -> controlplane_pb2.Persona:
        if self.cipher is None:
            raise RuntimeError("this store was opened without the secret key")
        return controlplane_pb2.Persona.FromString(self.cipher.open(data, "persona:" + persona_id))

    def add_persona_email(self, mail: controlplane_pb2.PersonaEmail, keep: int) -> None:
        """Stores a mail and drops the persona's oldest beyond `keep`."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute(
                "INSERT INTO persona_emails(id, persona_id, received_at, read, data) "
                "VALUES (?,?,?,0,?)",
                (mail.id, mail.persona_id, _seconds(mail.received_at),
                 self._seal(mail.SerializeToString(), "persona_email:" + mail.id)))
            self.db.execute(
                "DELETE FROM persona_emails WHERE persona_id=? AND id NOT IN (SELECT id FROM "
                "persona_emails WHERE persona_id=? ORDER BY received_at DESC, id DESC LIMIT ?)",
                (mail.persona_id, mail.persona_id, keep))

    def persona_emails(self, persona_id: str, limit: int, only_unread: bool,
                       newer_than: float | None) -> list[controlplane_pb2.PersonaEmail]:
        sql, args = "SELECT id, read, data FROM persona_emails WHERE persona_id=?", [persona_id]
        if only_unread:
            sql += " AND read=0"
        if newer_than is not None:
            sql, args = sql + " AND received_at >= ?", [*args, newer_than]
        rows = self.db.execute(sql + " ORDER BY received_at DESC, id DESC LIMIT ?", [*args, limit])
        found = []
        for mail_id, read, data in rows:
            assert self.cipher is not None
            mail = controlplane_pb2.PersonaEmail.FromString(
                self.cipher.open(data, "persona_email:" + mail_id))
            mail.read = bool(read)
            found.append(mail)
        return found

    def count_persona_emails(self, persona_id: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM persona_emails WHERE persona_id=?",
                               (persona_id,)).fetchone()[0]

    def mark_emails_read(self, ids: list[str]) -> None:
        self.db.executemany("UPDATE persona_emails SET read=1 WHERE id=?", [(i,) for i in ids])

    def forget_emails_before(self, cutoff: float) -> int:
        return self.db.execute("DELETE FROM persona_emails WHERE received_at < ?",
                               (cutoff,)).rowcount


def _session_filter(project_id: str | None, states: Iterable[int]) -> tuple[str, list]:
    where, args = ["1=1"], []
    if project_id is not None:
        where.append("project_id=?")
        args.append(project_id)
    states = list(states)
    if states:
        where.append(f"state IN ({','.join('?' * len(states))})")
        args += states
    return " AND ".join(where), args


KEY_QUERY = ("SELECT k.id, k.prefix, k.project_id, p.name, k.created_at, k.expires_at, "
             "k.revoked_at FROM api_keys k JOIN projects p ON p.id = k.project_id")


def _api_key(row: tuple) -> controlplane_pb2.ApiKey:
    key = controlplane_pb2.ApiKey(id=row[0], prefix=row[1], project_id=row[2], project_name=row[3],
                                  created_at=timestamp(row[4]))
    if row[5] is not None:
        key.expires_at.CopyFrom(timestamp(row[5]))
    if row[6] is not None:
        key.revoked_at.CopyFrom(timestamp(row[6]))
    key.active = row[6] is None and (row[5] is None or row[5] > time.time())
    return key


def _project(row: tuple) -> controlplane_pb2.Project:
    from google.protobuf import timestamp_pb2

    created = timestamp_pb2.Timestamp()
    created.FromNanoseconds(int(row[2] * 1e9))
    return controlplane_pb2.Project(id=row[0], name=row[1], created_at=created,
                                    max_concurrent_sessions=row[3],
                                    default_timeout_seconds=row[4])
