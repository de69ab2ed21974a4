/**
 * Schema migrations, applied in order inside one transaction each; `PRAGMA user_version`
 * records how far a database has come. Append new steps; never edit an applied one.
 * Times are integer milliseconds since the epoch (UTC).
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    secret_hash  BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    max_uses     INTEGER,
    uses         INTEGER NOT NULL DEFAULT 0,
    id_pattern   TEXT,
    labels       TEXT NOT NULL DEFAULT '{}',
    approval     TEXT NOT NULL CHECK (approval IN ('auto', 'manual')),
    reenroll     TEXT NOT NULL CHECK (reenroll IN ('deny', 'allow')),
    revoked_at   INTEGER
  ) STRICT;

  CREATE TABLE devices (
    id                TEXT PRIMARY KEY,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'active', 'revoked', 'reset')),
    token_id          TEXT REFERENCES tokens(id),
    labels            TEXT NOT NULL DEFAULT '{}',
    metadata          TEXT NOT NULL DEFAULT '{}',
    pending_key_sha256 TEXT,
    first_seen        INTEGER NOT NULL,
    last_seen         INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE certificates (
    serial             TEXT PRIMARY KEY,
    device_id          TEXT NOT NULL REFERENCES devices(id),
    key_sha256         TEXT NOT NULL,
    not_before         INTEGER NOT NULL,
    not_after          INTEGER NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('active', 'superseded', 'revoked')),
    issued_at          INTEGER NOT NULL,
    revoked_at         INTEGER,
    revocation_reason  TEXT,
    pem                TEXT NOT NULL
  ) STRICT;
  CREATE INDEX certificates_by_device ON certificates (device_id, issued_at);

  CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    action     TEXT NOT NULL,
    device_id  TEXT,
    token_id   TEXT,
    serial     TEXT,
    code       TEXT,
    source     TEXT,
    detail     TEXT
  ) STRICT;
  CREATE INDEX audit_by_device ON audit (device_id, seq);
  CREATE TRIGGER audit_is_append_only_u BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  CREATE TRIGGER audit_is_append_only_d BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  `,
  `
  -- What each device last reported on its MQTT status topic (server's own MQTT client).
  ALTER TABLE devices ADD COLUMN reported_state TEXT;
  ALTER TABLE devices ADD COLUMN reported_serial TEXT;
  ALTER TABLE devices ADD COLUMN reported_at INTEGER;
  CREATE INDEX certificates_revoked ON certificates (status, not_after) WHERE status = 'revoked';
  `,
  `
  -- An operator's "renew now" (fleetcert renew-now): the moment from which this certificate
  -- should renew, overriding the default window in its renewal info.
  ALTER TABLE certificates ADD COLUMN renew_from INTEGER;
  `,
  `
  -- At most one active certificate per device, enforced by the database rather than by code
  -- (compare-and-swap writes rely on it across processes). Older files could not have two, but
  -- keep only the newest active one if they somehow do.
  UPDATE certificates SET status = 'superseded'
    WHERE status = 'active'
      AND rowid NOT IN (SELECT max(rowid) FROM certificates WHERE status = 'active' GROUP BY device_id);
  CREATE UNIQUE INDEX certificates_one_active ON certificates (device_id) WHERE status = 'active';
  `,
  `
  -- renew-now --key-compromise: when this certificate's successor is issued, revoke it at once
  -- (reason keyCompromise) instead of leaving it valid until the device proves the successor.
  ALTER TABLE certificates ADD COLUMN key_compromised INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX certificates_superseded ON certificates (device_id) WHERE status = 'superseded';
  `,
  `
  -- device list --refused and the session-takeover flag: recent rows of one action without a
  -- scan of the whole audit log.
  CREATE INDEX audit_by_action ON audit (action, at);
  `,
  `
  -- Console administrators (fleetcert admin issue|passwd): a role, an optional password hash
  -- (scrypt, its parameters stored with it), and the client certificates issued to them. A
  -- certificate logs in only if its serial is here: a device certificate never is.
  CREATE TABLE admins (
    name           TEXT PRIMARY KEY,
    role           TEXT NOT NULL CHECK (role IN ('viewer', 'operator')),
    password_hash  TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE admin_certificates (
    serial      TEXT PRIMARY KEY,
    admin_name  TEXT NOT NULL REFERENCES admins(name),
    not_after   INTEGER NOT NULL,
    issued_at   INTEGER NOT NULL
  ) STRICT;
  -- The console's device list sorts and filters 10,000 rows server-side.
  CREATE INDEX devices_by_last_seen ON devices (last_seen);
  CREATE INDEX certificates_active_expiry ON certificates (not_after) WHERE status = 'active';
  `,
  `
  -- The latest published CRL, in the registry rather than only in the broker's file: its number
  -- only grows whichever process publishes, and the server serves it over HTTP (the
  -- certificates' CRL distribution point).
  CREATE TABLE crl_state (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    crl_number   INTEGER NOT NULL,
    this_update  INTEGER NOT NULL,
    next_update  INTEGER NOT NULL,
    der          BLOB NOT NULL
  ) STRICT;
  `,
  `
  -- Backend consumers (fleetcert service issue): a name, the topic filters it may read and write
  -- (JSON arrays, rendered into the broker's ACL), and its client certificates. Revoked service
  -- certificates go into the CRL beside devices' (revokedCertificates reads both tables).
  CREATE TABLE services (
    name           TEXT PRIMARY KEY,
    read_filters   TEXT NOT NULL,
    write_filters  TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE service_certificates (
    serial             TEXT PRIMARY KEY,
    service_name       TEXT NOT NULL REFERENCES services(name),
    not_after          INTEGER NOT NULL,
    issued_at          INTEGER NOT NULL,
    revoked_at         INTEGER,
    revocation_reason  TEXT
  ) STRICT;
  CREATE INDEX service_certificates_by_service ON service_certificates (service_name, issued_at);
  `,
];
