/**
 * The portal's schema, as an ordered list of migrations that run unchanged on SQLite and
 * PostgreSQL. The SQL keeps to the subset both accept: TEXT, BIGINT, INTEGER (booleans as 0/1),
 * CHECK, REFERENCES, UNIQUE; no SERIAL or AUTOINCREMENT (ids are made in code), no engine-specific
 * types. A migration is never edited once released: a change is a new migration.
 */
import type { Db } from './db.js';
import { PortalError, PortalErrorCode } from './errors.js';

/** One step of the schema. */
export type Migration = { readonly id: string; readonly sql: string };

const INITIAL = `
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE CHECK (email = lower(email)),
  name TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('developer', 'operator', 'admin', 'regulator')),
  created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  last_seen_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id, created_at);

CREATE TABLE login_attempts (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL,
  ip TEXT NOT NULL,
  attempted_at BIGINT NOT NULL,
  email_counted INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX login_attempts_by_email ON login_attempts (email, attempted_at);
CREATE INDEX login_attempts_by_ip ON login_attempts (ip, attempted_at);
CREATE INDEX login_attempts_by_time ON login_attempts (attempted_at);

CREATE TABLE organisations (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE memberships (
  org_id TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  created_at BIGINT NOT NULL,
  PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id);

CREATE TABLE invitations (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
  email TEXT NOT NULL CHECK (email = lower(email)),
  role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  invited_by TEXT REFERENCES users (id) ON DELETE SET NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  accepted_at BIGINT
);
CREATE INDEX invitations_by_org ON invitations (org_id, created_at);

CREATE TABLE apps (
  app_id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES organisations (id),
  name TEXT NOT NULL,
  plan TEXT NOT NULL,
  chain_id BIGINT NOT NULL,
  key_mode TEXT NOT NULL,
  access_policy TEXT NOT NULL,
  validators TEXT NOT NULL,
  owner_address TEXT NOT NULL,
  -- Sealed with secrets.ts under the portal's master key: the app owner's secp256k1 key, and the
  -- portal's own API key for the app.
  owner_key_enc TEXT,
  portal_key_enc TEXT,
  status TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX apps_by_org ON apps (org_id);

CREATE TABLE api_keys (
  key_id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL REFERENCES apps (app_id) ON DELETE CASCADE,
  label TEXT NOT NULL,
  scopes TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE INDEX api_keys_by_app ON api_keys (app_id);

-- usage and bills carry no foreign key to apps: they are keyed by the network's app id and
-- billing records must outlive the portal's copy of an app.
CREATE TABLE usage (
  app_id TEXT NOT NULL,
  bucket_start BIGINT NOT NULL,
  requests BIGINT NOT NULL DEFAULT 0,
  transactions BIGINT NOT NULL DEFAULT 0,
  gas BIGINT NOT NULL DEFAULT 0,
  storage_bytes BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (app_id, bucket_start)
);

CREATE TABLE bills (
  app_id TEXT NOT NULL,
  month TEXT NOT NULL,
  plan TEXT NOT NULL,
  lines TEXT NOT NULL,
  total_cents BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (app_id, month)
);

CREATE TABLE contracts (
  id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL REFERENCES apps (app_id) ON DELETE CASCADE,
  address TEXT NOT NULL,
  name TEXT NOT NULL,
  abi TEXT NOT NULL,
  source TEXT,
  tx_hash TEXT NOT NULL,
  deployed_by TEXT REFERENCES users (id) ON DELETE SET NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX contracts_by_app ON contracts (app_id, created_at);
`;

// Regulators (ADR 0010). A portal user's secp256k1 address, linked once they proved they hold its
// key: the system ledger grants regulators apps by address. And the API keys the portal holds for
// oversight: one `regulator`-scope key per regulator and app (holder `regulator:<userId>`), and the
// portal's `admin`-scope key that reads an app's audit log (holder `audit`), each sealed under a
// key derived from the app's owner key. A holder has at most one valid key per app; revoked keys
// stay as the record.
const REGULATORS = `
CREATE TABLE user_addresses (
  user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  address TEXT NOT NULL UNIQUE CHECK (address = lower(address)),
  linked_at BIGINT NOT NULL
);

CREATE TABLE oversight_keys (
  key_id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL REFERENCES apps (app_id) ON DELETE CASCADE,
  holder TEXT NOT NULL,
  scopes TEXT NOT NULL,
  key_enc TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE UNIQUE INDEX oversight_keys_valid ON oversight_keys (app_id, holder) WHERE revoked_at IS NULL;
`;

/** Every migration, in the order they apply. */
export const MIGRATIONS: readonly Migration[] = [
  { id: '0001_initial', sql: INITIAL },
  { id: '0002_regulators', sql: REGULATORS },
];

// Any constant works: it names the lock that serialises migrations between portal processes
// sharing one PostgreSQL database.
const PG_MIGRATION_LOCK = 7_316_420_501;

/**
 * Applies the migrations that `db` has not seen, each in its own transaction, and returns their
 * ids. Re-running it is a no-op; a database that a newer portal migrated is refused.
 */
export async function migrate(db: Db, migrations: readonly Migration[] = MIGRATIONS): Promise<string[]> {
  await db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)');
  const known = new Set(migrations.map((m) => m.id));
  const done = (await db.all<{ id: string }>('SELECT id FROM schema_migrations')).map((r) => r.id);
  const unknown = done.filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new PortalError(
      { code: PortalErrorCode.SCHEMA_TOO_NEW, unknownMigrations: unknown },
      `the database has migrations this portal does not know (${unknown.join(', ')})`,
      { hint: 'Run the newer portal release that migrated it, or restore a backup taken before the upgrade' },
    );
  }
  const applied: string[] = [];
  for (const migration of migrations) {
    const ran = await db.tx(async (t) => {
      // Two portals starting together would both find a migration missing; on PostgreSQL the lock
      // makes the second wait and then see it applied. On SQLite, BEGIN IMMEDIATE already does.
      if (t.kind === 'postgres') await t.one('SELECT pg_advisory_xact_lock($1)', [PG_MIGRATION_LOCK]);
      const seen = await t.one('SELECT id FROM schema_migrations WHERE id = $1', [migration.id]);
      if (seen) return false;
      await t.exec(migration.sql);
      await t.run('INSERT INTO schema_migrations (id, applied_at) VALUES ($1, $2)', [migration.id, Date.now()]);
      return true;
    });
    if (ran) applied.push(migration.id);
  }
  return applied;
}
