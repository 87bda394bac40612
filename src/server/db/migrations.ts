/**
 * The server's schema, as versioned SQL migrations applied in order at start (db/pool.ts `migrate`). A migration,
 * once released, never changes: a change is a new version appended here. Every table is keyed by the host (one log,
 * one origin) and its `epoch`: `ffaudit serve hosts reset` starts a new epoch for a host whose ledger was restored
 * from a backup, so the old history and the conflict stay as evidence beside the new one.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'hosts, witness, mirror',
    sql: `
CREATE TABLE hosts (
  id          bigserial PRIMARY KEY,
  name        text NOT NULL UNIQUE,
  status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active', 'disabled')),
  origin      text UNIQUE,
  origin_hash bytea UNIQUE,                  -- SHA-256 of the origin: the path component of /witness and /mirror
  vkey        text,                          -- the log's signed-note verifier key
  epoch       integer NOT NULL DEFAULT 0,    -- bumped by hosts reset
  hold        text,                          -- why cosigning is held (a restored server database), until resolved
  created_at  timestamptz NOT NULL DEFAULT now(),
  joined_at   timestamptz
);

-- One-time enrolment tokens: only their SHA-256 is stored; the token is shown once, by hosts add.
CREATE TABLE enrol_tokens (
  token_hash  bytea PRIMARY KEY,
  host_id     bigint NOT NULL REFERENCES hosts (id),
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz
);

-- tlog-witness: the latest checkpoint cosigned for each log; compare-and-set on (size, root).
CREATE TABLE witness_state (
  host_id     bigint PRIMARY KEY REFERENCES hosts (id),
  epoch       integer NOT NULL,
  size        bigint NOT NULL,
  root        bytea NOT NULL,
  note        text NOT NULL,                 -- the log's note with our cosignature line(s) appended
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Every checkpoint ever cosigned, by role: the trail a restored or disputed server is checked against.
CREATE TABLE cosigned (
  host_id     bigint NOT NULL REFERENCES hosts (id),
  epoch       integer NOT NULL,
  role        text NOT NULL CHECK (role IN ('witness', 'mirror')),
  size        bigint NOT NULL,
  root        bytea NOT NULL,
  note        text NOT NULL,
  cosigned_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (host_id, epoch, role, size)
);

-- Checkpoints refused and kept as evidence. 'equivocation': signed by the log's key, same size as one we cosigned,
-- another root (or a root the mirrored entries contradict); 'unproven': known log, valid signature, but the
-- consistency proof failed (not proof of misbehaviour by itself); 'reset': the history an admin set aside.
CREATE TABLE conflicts (
  id          bigserial PRIMARY KEY,
  host_id     bigint NOT NULL REFERENCES hosts (id),
  epoch       integer NOT NULL,
  kind        text NOT NULL CHECK (kind IN ('equivocation', 'unproven', 'contradicted', 'reset')),
  size        bigint,
  note        text NOT NULL,
  other_note  text,
  detail      text NOT NULL,
  seen_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conflicts_by_host ON conflicts (host_id, seen_at);

-- tlog-mirror: every valid pending checkpoint (any of them is an acceptable upload_end), and the mirror checkpoint.
CREATE TABLE pending_checkpoints (
  host_id     bigint NOT NULL REFERENCES hosts (id),
  epoch       integer NOT NULL,
  size        bigint NOT NULL,
  root        bytea NOT NULL,
  note        text NOT NULL,
  PRIMARY KEY (host_id, epoch, size)
);

CREATE TABLE mirror_state (
  host_id     bigint PRIMARY KEY REFERENCES hosts (id),
  epoch       integer NOT NULL,
  size        bigint NOT NULL,
  root        bytea NOT NULL,
  note        text NOT NULL,                 -- the log's note with the mirror's cosignature line(s)
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Mirrored entries, one row each: the bytes and their RFC 6962 leaf hash.
CREATE TABLE mirror_entries (
  host_id     bigint NOT NULL,
  epoch       integer NOT NULL,
  idx         bigint NOT NULL,
  data        bytea NOT NULL,
  leaf        bytea NOT NULL,
  PRIMARY KEY (host_id, epoch, idx)
);

-- Interior nodes of each mirrored tree (level >= 1; the leaves are mirror_entries.leaf), written as packages
-- complete them: at least the tile levels 8, 16, 24, … that hash tiles are read from (tlog-tiles).
CREATE TABLE mirror_nodes (
  host_id     bigint NOT NULL,
  epoch       integer NOT NULL,
  level       smallint NOT NULL,
  idx         bigint NOT NULL,
  hash        bytea NOT NULL,
  PRIMARY KEY (host_id, epoch, level, idx)
);

-- Blobs (FFmpeg reports) are content addressed and shared by every log; entry_blobs says which mirrored entry of
-- which log names which blob, so a push is refused unless a mirrored entry names its bytes.
CREATE TABLE blobs (
  sha256      bytea PRIMARY KEY,
  size        bigint NOT NULL,
  data        bytea NOT NULL
);
CREATE TABLE entry_blobs (
  host_id     bigint NOT NULL,
  epoch       integer NOT NULL,
  sha256      bytea NOT NULL,
  size        bigint NOT NULL,
  idx         bigint NOT NULL,
  PRIMARY KEY (host_id, epoch, sha256)
);
`,
  },
  {
    version: 2,
    name: 'mirror: blobs named without a size',
    // A run's FFmpeg report is named by a top-level `report_sha256` with no size beside it (core/run.ts), unlike a
    // field moved out of an entry ({"$blob": sha256, "size": n}); NULL says the entry named no size.
    sql: `
ALTER TABLE entry_blobs ALTER COLUMN size DROP NOT NULL;
`,
  },
  {
    version: 3,
    name: 'search indexes, API tokens, log activity, mirror checks',
    // The search indexes are derived from mirror_entries in the same transaction that stores the entries
    // (server/search/ingest.ts): a search can never miss a run the mirror holds. They only say where to look: every
    // hit is rebuilt from mirror_entries.data, checked against its leaf hash, and the filter applied again.
    sql: `
-- One row per run: its start entry, and its end once mirrored. Times are nanoseconds since the epoch (entries
-- carry nanoseconds; timestamptz keeps microseconds), so ordering and range filters are exact.
CREATE TABLE idx_runs (
  host_id     bigint NOT NULL,
  epoch       integer NOT NULL,
  start_idx   bigint NOT NULL,
  end_idx     bigint,
  run_id      text NOT NULL,
  tool        text NOT NULL,
  status      text NOT NULL,                 -- ok, failed, terminated, or incomplete (no end mirrored)
  usr         text NOT NULL,
  actor       text,
  started_ns  bigint NOT NULL,
  -- What a text filter searches, lower-cased: command line, cwd, reason, actor, file paths. NULL when a field of the
  -- entry was moved into a blob: such a run is always a candidate, and the rebuilt run decides.
  words       text,
  PRIMARY KEY (host_id, epoch, start_idx)
);
-- The user and actor indexes end with the whole order key (server/search/query.ts), so a page of one user's runs in a
-- time range is read in order from the index, with no sort; the id index is in byte order for prefix ranges.
-- The order key, then what a page and its count read besides it (the epoch, checked against the host's current one,
-- and the end), so both are index-only scans: a user's runs lie one per heap page, interleaved with every other log's.
CREATE INDEX idx_runs_time ON idx_runs (started_ns, host_id, start_idx) INCLUDE (epoch, end_idx);
CREATE INDEX idx_runs_user_time ON idx_runs (usr, started_ns, host_id, start_idx) INCLUDE (epoch, end_idx);
CREATE INDEX idx_runs_actor_time ON idx_runs (actor, started_ns, host_id, start_idx) INCLUDE (epoch, end_idx) WHERE actor IS NOT NULL;
CREATE INDEX idx_runs_id ON idx_runs (run_id COLLATE "C");
-- Runs with a field in a blob (words NULL): always candidates for a text, hash or path filter, so found without a scan.
CREATE INDEX idx_runs_blobbed ON idx_runs (host_id, epoch, start_idx) WHERE words IS NULL;
-- A file named by a run's end leads to its run through the end's index (lineage: producers and readers).
CREATE INDEX idx_runs_end ON idx_runs (host_id, epoch, end_idx) WHERE end_idx IS NOT NULL;

-- One row per custody note.
CREATE TABLE idx_notes (
  host_id     bigint NOT NULL,
  epoch       integer NOT NULL,
  idx         bigint NOT NULL,
  usr         text NOT NULL,
  actor       text,
  time_ns     bigint NOT NULL,
  words       text,
  PRIMARY KEY (host_id, epoch, idx)
);
CREATE INDEX idx_notes_time ON idx_notes (time_ns, host_id, idx) INCLUDE (epoch);
CREATE INDEX idx_notes_user_time ON idx_notes (usr, time_ns, host_id, idx) INCLUDE (epoch);
CREATE INDEX idx_notes_blobbed ON idx_notes (host_id, epoch, idx) WHERE words IS NULL;

-- Every file an entry names: run.start inputs ('input'), run.end inputs and outputs, a note's files ('note').
CREATE TABLE idx_files (
  host_id     bigint NOT NULL,
  epoch       integer NOT NULL,
  idx         bigint NOT NULL,               -- the entry that names the file
  role        text NOT NULL CHECK (role IN ('input', 'output', 'note')),
  sha256      bytea,
  path        text NOT NULL
);
CREATE INDEX idx_files_sha ON idx_files (sha256, role) WHERE sha256 IS NOT NULL;
CREATE INDEX idx_files_path ON idx_files (path COLLATE "C");
CREATE INDEX idx_files_entry ON idx_files (host_id, epoch, idx);

-- What the entries of each log gave the indexes, counted as they were indexed (ingest.ts): a deleted index row shows
-- as a count below its tally (search/lookup.ts indexProblems), without reading every entry again.
CREATE TABLE idx_tally (
  host_id     bigint NOT NULL,
  epoch       integer NOT NULL,
  runs        bigint NOT NULL DEFAULT 0,     -- idx_runs rows
  ends        bigint NOT NULL DEFAULT 0,     -- of which with their end
  notes       bigint NOT NULL DEFAULT 0,     -- idx_notes rows
  files       bigint NOT NULL DEFAULT 0,     -- idx_files rows
  PRIMARY KEY (host_id, epoch)
);

-- API bearer tokens (server/api/auth.ts): only their SHA-256 is stored; the token is shown once, by tokens add.
CREATE TABLE api_tokens (
  id          bigserial PRIMARY KEY,
  name        text NOT NULL,
  role        text NOT NULL CHECK (role IN ('viewer', 'auditor', 'admin')),
  token_hash  bytea NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at  timestamptz
);

-- When each host last spoke to the witness or the mirror: a stopped host otherwise looks like a quiet one.
ALTER TABLE hosts ADD COLUMN last_push_at timestamptz;

-- The server's re-verification of its mirrors (server/search/reverify.ts): one row per check, the problems found.
CREATE TABLE mirror_checks (
  id          bigserial PRIMARY KEY,
  host_id     bigint NOT NULL REFERENCES hosts (id),
  epoch       integer NOT NULL,
  size        bigint NOT NULL,               -- the mirror checkpoint's size checked against
  checked_at  timestamptz NOT NULL DEFAULT now(),
  ok          boolean NOT NULL,
  problems    jsonb NOT NULL                 -- ["entry 17 does not hash to its leaf", …], at most 100
);
CREATE INDEX mirror_checks_by_host ON mirror_checks (host_id, checked_at);
`,
  },
  {
    version: 4,
    name: 'web interface: people, sessions, acknowledged alerts, the access log',
    sql: `
-- People who sign in to the web interface (server/web/accounts.ts). A password is stored as scrypt's output only
-- (scrypt$N$r$p$salt$key, base64); an account made through OpenID Connect has no password and its issuer's subject.
CREATE TABLE users (
  id              bigserial PRIMARY KEY,
  name            text NOT NULL UNIQUE,
  role            text NOT NULL CHECK (role IN ('viewer', 'auditor', 'admin')),
  password_hash   text,
  oidc_subject    text UNIQUE,                -- issuer + ' ' + sub, for accounts signed in through OpenID Connect
  created_at      timestamptz NOT NULL DEFAULT now(),
  disabled_at     timestamptz,
  failed_attempts integer NOT NULL DEFAULT 0, -- since the last successful sign-in
  next_attempt_at timestamptz                 -- no password is checked for this account before then (throttle)
);

-- Signed-in sessions: the cookie holds 32 random bytes, the table only their SHA-256, so a copy of the database
-- signs no one in. Each session has its own CSRF token, embedded in every form.
CREATE TABLE web_sessions (
  id_hash      bytea PRIMARY KEY,
  user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  csrf         text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);

-- Alerts (an equivocation or another conflict, a failed re-verification) an admin acknowledged; until then the web
-- interface shows them in red on every page. The acknowledgement is also an entry of the access log.
CREATE TABLE alert_acks (
  kind        text NOT NULL CHECK (kind IN ('conflict', 'check')),
  ref         bigint NOT NULL,               -- conflicts.id or mirror_checks.id
  acked_by    text NOT NULL,
  acked_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (kind, ref)
);

-- A server process's own access log is a ledger like a host's, mirrored here like any host's; this marks its host.
ALTER TABLE hosts ADD COLUMN access_log boolean NOT NULL DEFAULT false;

-- One row per subject of each access.event entry (who looked at which run or which file), derived at ingest as the
-- other indexes are; the Run and File pages read it and rebuild each event from its entry.
CREATE TABLE idx_access (
  host_id     bigint NOT NULL,
  epoch       integer NOT NULL,
  idx         bigint NOT NULL,
  time_ns     bigint NOT NULL,
  usr         text NOT NULL,
  action      text NOT NULL,
  run_id      text,
  sha256      bytea
);
CREATE INDEX idx_access_run ON idx_access (run_id, time_ns) WHERE run_id IS NOT NULL;
CREATE INDEX idx_access_sha ON idx_access (sha256, time_ns) WHERE sha256 IS NOT NULL;
CREATE INDEX idx_access_entry ON idx_access (host_id, epoch, idx);
ALTER TABLE idx_tally ADD COLUMN access bigint NOT NULL DEFAULT 0;
`,
  },
  {
    version: 5,
    name: 'RFC 3161 timestamps of the mirror checkpoints',
    sql: `
-- RFC 3161 tokens over mirror checkpoints (server/mirror-stamps.ts), each verified completely before it is stored,
-- and renewals in the manner of RFC 4998 archive timestamps: a later token whose imprint is SHA-256 of the earlier
-- token's DER, made before the earlier signer's certificate expires. Generation 0 is a checkpoint's own token
-- (imprint: SHA-256 of the note body), generation n renews generation n - 1 of the same checkpoint; they are
-- published as /mirror/<hash>/timestamp/<size> and <size>.<n> (server/mirror-timestamps.ts).
CREATE TABLE timestamps (
  token_hash       bytea PRIMARY KEY,          -- SHA-256 of token
  host_id          bigint NOT NULL REFERENCES hosts (id),
  epoch            integer NOT NULL,
  size             bigint NOT NULL,
  root             bytea NOT NULL,
  checkpoint       text NOT NULL,              -- the mirror checkpoint: the log's note with the mirror's cosignature
  generation       integer NOT NULL CHECK (generation >= 0),
  renews           bytea REFERENCES timestamps (token_hash),
  tsa              text NOT NULL,              -- the TSA's URL
  gen_time         timestamptz NOT NULL,       -- the token's genTime
  signer_not_after timestamptz NOT NULL,       -- when the TSA certificate that signed it expires (renewal is due before)
  token            bytea NOT NULL,             -- DER TimeStampToken (CMS ContentInfo)
  stamped_at       timestamptz NOT NULL DEFAULT now(),
  CHECK ((generation = 0) = (renews IS NULL))
);
-- One token per checkpoint and generation, one renewal per token: two processes cannot both store one.
CREATE UNIQUE INDEX timestamps_by_checkpoint ON timestamps (host_id, epoch, size, generation);
CREATE UNIQUE INDEX timestamps_renewal ON timestamps (renews) WHERE renews IS NOT NULL;

-- Evidence is appended, never changed: an UPDATE, DELETE or TRUNCATE of it is refused whoever asks.
CREATE FUNCTION ffaudit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER timestamps_append_only BEFORE UPDATE OR DELETE ON timestamps FOR EACH ROW EXECUTE FUNCTION ffaudit_append_only();
CREATE TRIGGER timestamps_no_truncate BEFORE TRUNCATE ON timestamps FOR EACH STATEMENT EXECUTE FUNCTION ffaudit_append_only();

-- When each log was last sent to the TSA, across every serve process on this database: the compare-and-set that
-- keeps it to one request per log per interval (serve --tsa-every), whether the TSA answered or not.
CREATE TABLE timestamp_schedule (
  host_id     bigint PRIMARY KEY REFERENCES hosts (id),
  tried_at    timestamptz NOT NULL
);
`,
  },
  {
    version: 6,
    name: 'logs registered for witnessing only',
    sql: `
-- A log an administrator registered by its origin and key (serve hosts add NAME --log-vkey), with no join: the
-- witness cosigns it (c2sp.org/tlog-witness: logs are configured out of band), the mirror takes none of its entries.
ALTER TABLE hosts ADD COLUMN witness_only boolean NOT NULL DEFAULT false;
`,
  },
];
