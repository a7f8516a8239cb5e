/**
 * Accounts, sessions, organisations and invitations of the portal.
 *
 * - Passwords are hashed with scrypt, N = 2^15, r = 8, p = 1 by default (32 MiB per hash).
 *   OWASP's cheat sheet asks for N = 2^17; 2^15 is the choice for small shared hosts, and since the
 *   stored form keeps the parameters, raising them rehashes each account at its next sign-in.
 * - Session and invitation tokens are 32 random bytes; the database keeps only their SHA-256, so a
 *   copy of the database does not let anyone sign in or join an organisation.
 * - Sign-in is throttled per email and per client address. A throttled attempt is refused before
 *   the password is checked: that is what makes guessing slow, since a right guess during the
 *   pause is refused too.
 * - Every list a user can grow has a bound: sessions per user, members and pending invitations
 *   per organisation, organisations per user, rows of failed attempts.
 */
import { createHash, randomBytes, randomUUID, scrypt, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { type Db, isUniqueViolation } from './db.js';
import { invalidInput, limitReached, notAllowed, notFound, PortalError, PortalErrorCode } from './errors.js';

/** What a user is in the alliance; it decides which parts of the portal they see. */
export type UserKind = 'developer' | 'operator' | 'admin' | 'regulator';
/** Every user kind. */
export const USER_KINDS = ['developer', 'operator', 'admin', 'regulator'] as const satisfies readonly UserKind[];
/** A member's role in an organisation. */
export type OrgRole = 'owner' | 'admin' | 'member';
/** Every organisation role. */
export const ORG_ROLES = ['owner', 'admin', 'member'] as const satisfies readonly OrgRole[];

/** A user, without the password hash. */
export type User = { id: string; email: string; name: string; kind: UserKind; createdAt: number };
/** An organisation. */
export type Organisation = { id: string; name: string; createdAt: number };
/** A member of an organisation, as `listMembers` shows it. */
export type Member = { userId: string; email: string; name: string; role: OrgRole; joinedAt: number };
/** An organisation of a user, with the user's role in it. */
export type UserOrganisation = Organisation & { role: OrgRole };

/** scrypt's cost parameters. */
export type ScryptParams = { N: number; r: number; p: number };
/** Sign-in throttling: at most `maxPerEmail` / `maxPerIp` failures within `windowMs`. */
export type ThrottleOptions = { windowMs: number; maxPerEmail: number; maxPerIp: number };

/** Options for `createAccounts`. */
export type AccountsOptions = {
  /** The clock, in ms since the epoch. */
  now?: () => number;
  /** How long a session lasts after sign-in. */
  sessionTtlMs?: number;
  /** How long an invitation can be accepted. */
  invitationTtlMs?: number;
  throttle?: Partial<ThrottleOptions>;
  /** scrypt's cost for new hashes; tests lower N, production keeps the default. */
  scrypt?: Partial<ScryptParams>;
};

/** The default scrypt cost: 32 MiB and about 50-100 ms per hash on a server core. */
export const SCRYPT_DEFAULT: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };
/** The default throttle: 5 failures per email or 20 per address within 15 minutes. */
export const THROTTLE_DEFAULT: ThrottleOptions = { windowMs: 15 * 60_000, maxPerEmail: 5, maxPerIp: 20 };
/** The default session lifetime: 7 days. */
export const SESSION_TTL_MS_DEFAULT = 7 * 24 * 3_600_000;
/** The default invitation lifetime: 7 days. */
export const INVITATION_TTL_MS_DEFAULT = 7 * 24 * 3_600_000;
/** Sessions one user may hold; signing in once more drops the oldest. */
export const SESSIONS_PER_USER_MAX = 20;
/** Members of one organisation. */
export const MEMBERS_PER_ORG_MAX = 1_000;
/** Organisations one user may belong to. */
export const ORGS_PER_USER_MAX = 100;
/** Invitations of one organisation that are neither accepted nor expired. */
export const PENDING_INVITATIONS_PER_ORG_MAX = 100;
/** Rows of failed sign-ins kept in all; older rows beyond it are pruned. */
export const LOGIN_ATTEMPTS_ROWS_MAX = 100_000;
/** A session's last_seen_at is written at most this often, so reading a session is not a write each time. */
export const SESSION_TOUCH_INTERVAL_MS = 60_000;
/** Expired invitations are kept this long, so that an old link says "expired" rather than "unknown". */
export const EXPIRED_INVITATION_KEEP_MS = 30 * 24 * 3_600_000;

const ADDRESS_PATTERN = /^0x[0-9a-f]{40}$/;
const PASSWORD_MIN = 10;
// scrypt's first step hashes the whole password, so a bound keeps a huge one from costing much.
const PASSWORD_MAX = 1_024;
const NAME_MAX = 80;
// RFC 5321 limits a forward path to 256 octets, two of them the angle brackets.
const EMAIL_MAX = 254;
// An IPv6 address with a zone id fits easily; longer strings are not addresses.
const IP_MAX = 100;
const TOKEN_BYTES = 32;
const TOKEN_TEXT_MAX = 100;
const SALT_BYTES = 16;
const HASH_BYTES = 32;
// Stored hashes are parsed with bounds, so a corrupted row cannot ask for gigabytes.
const SCRYPT_N_MAX = 2 ** 20;
const SCRYPT_R_MAX = 32;
const SCRYPT_P_MAX = 16;
// The cap on failed-attempt rows is enforced every PRUNE_EVERY failures, not on each one: the
// check walks the index over up to LOGIN_ATTEMPTS_ROWS_MAX rows.
const PRUNE_EVERY = 100;

// ---------------------------------------------------------------------------------------------
// Passwords and tokens

function scryptAsync(password: string, salt: Buffer, params: ScryptParams, keyBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // Node's default maxmem (32 MiB) is just below what N = 2^15, r = 8 needs (128 * N * r plus
    // the p blocks), so the limit is set from the parameters.
    const maxmem = 256 * params.N * params.r + 1024 * 1024;
    scrypt(password, salt, keyBytes, { N: params.N, r: params.r, p: params.p, maxmem }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

// The same password typed on two systems can arrive in two Unicode forms; NFC makes them one.
function normalizePassword(password: string): string {
  return password.normalize('NFC');
}

/** Hashes a password as `scrypt$N$r$p$salt$hash` (salt and hash in base64url). */
export async function hashPassword(password: string, params: ScryptParams = SCRYPT_DEFAULT): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await scryptAsync(normalizePassword(password), salt, params, HASH_BYTES);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

type ParsedHash = { params: ScryptParams; salt: Buffer; hash: Buffer };

function parseHash(stored: string): ParsedHash {
  const parts = stored.split('$');
  const [scheme, n, r, p, salt, hash] = parts;
  const N = Number(n);
  const R = Number(r);
  const P = Number(p);
  const ok =
    parts.length === 6 &&
    scheme === 'scrypt' &&
    Number.isInteger(N) &&
    N >= 2 &&
    N <= SCRYPT_N_MAX &&
    (N & (N - 1)) === 0 &&
    Number.isInteger(R) &&
    R >= 1 &&
    R <= SCRYPT_R_MAX &&
    Number.isInteger(P) &&
    P >= 1 &&
    P <= SCRYPT_P_MAX &&
    salt !== undefined &&
    hash !== undefined;
  const saltBytes = Buffer.from(salt ?? '', 'base64url');
  const hashBytes = Buffer.from(hash ?? '', 'base64url');
  if (!ok || saltBytes.length < 8 || hashBytes.length < 16 || hashBytes.length > 64) {
    // A stored hash is written by hashPassword only: any other shape is a corrupt row.
    throw new Error('a stored password hash is malformed');
  }
  return { params: { N, r: R, p: P }, salt: saltBytes, hash: hashBytes };
}

/** Whether `password` matches a hash made by `hashPassword`, compared in constant time. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const { params, salt, hash } = parseHash(stored);
  const candidate = await scryptAsync(normalizePassword(password), salt, params, hash.length);
  return timingSafeEqual(candidate, hash);
}

function sameParams(stored: string, params: ScryptParams): boolean {
  const parsed = parseHash(stored).params;
  return parsed.N === params.N && parsed.r === params.r && parsed.p === params.p;
}

/** A new random token (base64url of 32 bytes) for a session or an invitation. */
export function newToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

/** The id under which a token is stored: its SHA-256 in hex. */
export function tokenId(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

// ---------------------------------------------------------------------------------------------
// Input

const emailSchema = z
  .email({ error: 'must be an email address such as name@example.com' })
  .max(EMAIL_MAX, { error: `must be at most ${EMAIL_MAX} characters` });
const nameSchema = z
  .string({ error: 'must be text' })
  .min(1, { error: 'must not be empty' })
  .max(NAME_MAX, { error: `must be at most ${NAME_MAX} characters` });
const passwordSchema = z
  .string({ error: 'must be text' })
  .min(PASSWORD_MIN, { error: `must be at least ${PASSWORD_MIN} characters` })
  .max(PASSWORD_MAX, { error: `must be at most ${PASSWORD_MAX} characters` });
const kindSchema = z.enum(USER_KINDS, { error: `must be one of ${USER_KINDS.join(', ')}` });
const roleSchema = z.enum(ORG_ROLES, { error: `must be one of ${ORG_ROLES.join(', ')}` });

function parse<T>(schema: z.ZodType<T>, field: string, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw invalidInput(field, result.error.issues[0]?.message ?? 'is invalid');
}

// Emails are compared lower-cased: nearly every provider treats the local part that way, and two
// accounts differing only in case would be a support problem, not a feature.
function normalizeEmail(value: unknown): string {
  if (typeof value !== 'string') throw invalidInput('email', 'must be text');
  return parse(emailSchema, 'email', value.trim().toLowerCase());
}

function normalizeName(value: unknown, field = 'name'): string {
  return parse(nameSchema, field, typeof value === 'string' ? value.trim() : value);
}

// ---------------------------------------------------------------------------------------------
// Rows

type UserRow = { id: string; email: string; name: string; kind: UserKind; created_at: number };
type UserWithHashRow = UserRow & { password_hash: string };

function userFromRow(row: UserRow): User {
  return { id: row.id, email: row.email, name: row.name, kind: row.kind, createdAt: row.created_at };
}

const USER_COLUMNS = 'id, email, name, kind, created_at';

/** The store's accounts API; see `createAccounts`. */
export type Accounts = ReturnType<typeof createAccounts>;

/** Builds the accounts API over `db` (migrated with `migrate`). */
export function createAccounts(db: Db, options: AccountsOptions = {}) {
  const now = options.now ?? Date.now;
  const sessionTtlMs = options.sessionTtlMs ?? SESSION_TTL_MS_DEFAULT;
  const invitationTtlMs = options.invitationTtlMs ?? INVITATION_TTL_MS_DEFAULT;
  const throttle: ThrottleOptions = { ...THROTTLE_DEFAULT, ...options.throttle };
  const scryptParams: ScryptParams = { ...SCRYPT_DEFAULT, ...options.scrypt };
  let failuresSincePrune = 0;
  let dummyHash: Promise<string> | undefined;

  // An unknown email is checked against this hash so that it takes as long as a wrong password:
  // the time of the answer must not tell whether an account exists.
  function dummy(): Promise<string> {
    dummyHash ??= hashPassword(newToken(), scryptParams);
    return dummyHash;
  }

  async function roleOf(t: Db, orgId: string, userId: string): Promise<OrgRole | undefined> {
    const row = await t.one<{ role: OrgRole }>('SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2', [
      orgId,
      userId,
    ]);
    return row?.role;
  }

  // Membership changes lock the organisation's row first, so two concurrent changes cannot both
  // pass the last-owner check. `SET id = id` is the portable form of SELECT ... FOR UPDATE: a row
  // lock on PostgreSQL, and SQLite's transactions hold the write lock from BEGIN IMMEDIATE.
  async function lockOrg(t: Db, orgId: string): Promise<void> {
    const { changes } = await t.run('UPDATE organisations SET id = id WHERE id = $1', [orgId]);
    if (changes === 0) throw notFound('organisation');
  }

  async function countOwners(t: Db, orgId: string): Promise<number> {
    const row = await t.one<{ n: number }>("SELECT COUNT(*) AS n FROM memberships WHERE org_id = $1 AND role = 'owner'", [orgId]);
    return Number(row?.n ?? 0);
  }

  async function addMember(t: Db, orgId: string, userId: string, role: OrgRole): Promise<void> {
    const members = await t.one<{ n: number }>('SELECT COUNT(*) AS n FROM memberships WHERE org_id = $1', [orgId]);
    if (Number(members?.n ?? 0) >= MEMBERS_PER_ORG_MAX) {
      throw limitReached('members', MEMBERS_PER_ORG_MAX, 'Remove members who no longer need access first');
    }
    const orgs = await t.one<{ n: number }>('SELECT COUNT(*) AS n FROM memberships WHERE user_id = $1', [userId]);
    if (Number(orgs?.n ?? 0) >= ORGS_PER_USER_MAX) {
      throw limitReached('organisations per user', ORGS_PER_USER_MAX, 'Leave an organisation you no longer use first');
    }
    await t.run('INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)', [
      orgId,
      userId,
      role,
      now(),
    ]);
  }

  function emailTaken(email: string, cause?: unknown): PortalError {
    return new PortalError(
      { code: PortalErrorCode.EMAIL_TAKEN, email },
      'an account with this email already exists: sign in instead, or reset the password',
      { cause },
    );
  }

  function badCredentials(): PortalError {
    return new PortalError({ code: PortalErrorCode.BAD_CREDENTIALS }, 'the email or the password is wrong', {
      hint: `Check both and try again; after ${throttle.maxPerEmail} failures sign-in pauses for ${Math.round(throttle.windowMs / 60_000)} minutes`,
    });
  }

  /**
   * The time (ms) until which `scope` is throttled, or undefined. The current attempt is already
   * recorded, so the limit is reached when the (max + 1)-th most recent counted attempt in the
   * window exists; it leaves the window at its time plus the window.
   */
  async function throttledUntil(scope: 'email' | 'ip', key: string, at: number): Promise<number | undefined> {
    const sql =
      scope === 'email'
        ? 'SELECT attempted_at FROM login_attempts WHERE email = $1 AND email_counted = 1 AND attempted_at > $2 ORDER BY attempted_at DESC LIMIT 1 OFFSET $3'
        : 'SELECT attempted_at FROM login_attempts WHERE ip = $1 AND attempted_at > $2 ORDER BY attempted_at DESC LIMIT 1 OFFSET $3';
    const max = scope === 'email' ? throttle.maxPerEmail : throttle.maxPerIp;
    const row = await db.one<{ attempted_at: number }>(sql, [key, at - throttle.windowMs, max]);
    return row === undefined ? undefined : row.attempted_at + throttle.windowMs;
  }

  async function pruneAttempts(at: number): Promise<void> {
    await db.run('DELETE FROM login_attempts WHERE attempted_at <= $1', [at - throttle.windowMs]);
    failuresSincePrune++;
    if (failuresSincePrune >= PRUNE_EVERY) {
      failuresSincePrune = 0;
      await db.run(
        'DELETE FROM login_attempts WHERE attempted_at < (SELECT attempted_at FROM login_attempts ORDER BY attempted_at DESC LIMIT 1 OFFSET $1)',
        [LOGIN_ATTEMPTS_ROWS_MAX - 1],
      );
    }
  }

  return {
    /**
     * Creates an account and its personal organisation (the user is its owner). `kind` is taken
     * as given: the HTTP route must not let a visitor choose `admin` or `regulator`.
     */
    async signUp(input: { email: string; name: string; password: string; kind?: UserKind }): Promise<{
      user: User;
      organisation: Organisation;
    }> {
      const email = normalizeEmail(input.email);
      const name = normalizeName(input.name);
      const password = parse(passwordSchema, 'password', input.password);
      const kind = parse(kindSchema, 'kind', input.kind ?? 'developer');
      // Checked before hashing to spare the work; the unique index settles a race.
      if (await db.one('SELECT id FROM users WHERE email = $1', [email])) throw emailTaken(email);
      const passwordHash = await hashPassword(password, scryptParams);
      const at = now();
      const user: User = { id: randomUUID(), email, name, kind, createdAt: at };
      const organisation: Organisation = { id: randomUUID(), name: `${name} (personal)`.slice(0, NAME_MAX), createdAt: at };
      try {
        await db.tx(async (t) => {
          await t.run('INSERT INTO users (id, email, name, password_hash, kind, created_at) VALUES ($1, $2, $3, $4, $5, $6)', [
            user.id,
            email,
            name,
            passwordHash,
            kind,
            at,
          ]);
          await t.run('INSERT INTO organisations (id, name, created_at) VALUES ($1, $2, $3)', [
            organisation.id,
            organisation.name,
            at,
          ]);
          await addMember(t, organisation.id, user.id, 'owner');
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw emailTaken(email, err);
        throw err;
      }
      return { user, organisation };
    },

    /** Signs in; throws BAD_CREDENTIALS (same for an unknown email) or THROTTLED. */
    async signIn(input: { email: string; password: string; ip: string }): Promise<{
      token: string;
      user: User;
      expiresAt: number;
    }> {
      if (typeof input.email !== 'string' || input.email.length > EMAIL_MAX)
        throw invalidInput('email', 'is not an email address');
      if (typeof input.ip !== 'string' || input.ip.length === 0 || input.ip.length > IP_MAX) {
        throw invalidInput('ip', 'is not a client address');
      }
      if (typeof input.password !== 'string') throw invalidInput('password', 'must be text');
      const email = input.email.trim().toLowerCase();
      const at = now();
      // The attempt is written before it is checked, as a failure until it succeeds: concurrent
      // guesses then see each other, and at most the limit of them reach the password check.
      const attemptId = randomUUID();
      await db.run('INSERT INTO login_attempts (id, email, ip, attempted_at, email_counted) VALUES ($1, $2, $3, $4, 1)', [
        attemptId,
        email,
        input.ip,
        at,
      ]);
      for (const [scope, key] of [
        ['email', email],
        ['ip', input.ip],
      ] as const) {
        const until = await throttledUntil(scope, key, at);
        if (until !== undefined) {
          // A refused attempt is not a failure: it did not test a password.
          await db.run('DELETE FROM login_attempts WHERE id = $1', [attemptId]);
          const retryAfterSeconds = Math.max(1, Math.ceil((until - at) / 1000));
          throw new PortalError({ code: PortalErrorCode.THROTTLED, scope, retryAfterSeconds }, 'too many failed sign-ins', {
            hint: `Try again in ${retryAfterSeconds} seconds, or reset the password`,
          });
        }
      }
      const row = await db.one<UserWithHashRow>(`SELECT ${USER_COLUMNS}, password_hash FROM users WHERE email = $1`, [email]);
      let ok = false;
      // A password longer than sign-up accepts cannot match, so it is not hashed at all.
      if (input.password.length <= PASSWORD_MAX) {
        if (row === undefined) await verifyPassword(input.password, await dummy());
        else ok = await verifyPassword(input.password, row.password_hash);
      }
      if (!ok || row === undefined) {
        await pruneAttempts(at);
        throw badCredentials();
      }
      if (!sameParams(row.password_hash, scryptParams)) {
        // The cost was raised since this hash was made: store the password at the new cost.
        const rehashed = await hashPassword(input.password, scryptParams);
        await db.run('UPDATE users SET password_hash = $1 WHERE id = $2', [rehashed, row.id]);
      }
      const token = newToken();
      const expiresAt = at + sessionTtlMs;
      await db.tx(async (t) => {
        // A successful sign-in clears the email's counter (the address's counter stays: one good
        // password must not reset the count of guesses against other accounts), and this attempt
        // was no failure.
        await t.run('DELETE FROM login_attempts WHERE id = $1', [attemptId]);
        await t.run('UPDATE login_attempts SET email_counted = 0 WHERE email = $1', [email]);
        await t.run('DELETE FROM sessions WHERE user_id = $1 AND expires_at <= $2', [row.id, at]);
        await t.run('INSERT INTO sessions (id, user_id, created_at, expires_at, last_seen_at) VALUES ($1, $2, $3, $4, $5)', [
          tokenId(token),
          row.id,
          at,
          expiresAt,
          at,
        ]);
        await t.run(
          'DELETE FROM sessions WHERE user_id = $1 AND id NOT IN (SELECT id FROM sessions WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2)',
          [row.id, SESSIONS_PER_USER_MAX],
        );
      });
      return { token, user: userFromRow(row), expiresAt };
    },

    /** The user of a session token, or undefined when it is unknown or expired (an expired session is deleted). */
    async session(token: string): Promise<User | undefined> {
      if (typeof token !== 'string' || token.length === 0 || token.length > TOKEN_TEXT_MAX) return undefined;
      const id = tokenId(token);
      const row = await db.one<UserRow & { expires_at: number; last_seen_at: number }>(
        'SELECT u.id, u.email, u.name, u.kind, u.created_at, s.expires_at, s.last_seen_at FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1',
        [id],
      );
      if (row === undefined) return undefined;
      const at = now();
      if (row.expires_at <= at) {
        await db.run('DELETE FROM sessions WHERE id = $1', [id]);
        return undefined;
      }
      if (at - row.last_seen_at >= SESSION_TOUCH_INTERVAL_MS) {
        await db.run('UPDATE sessions SET last_seen_at = $1 WHERE id = $2', [at, id]);
      }
      return userFromRow(row);
    },

    /** Ends a session; an unknown token is not an error. */
    async signOut(token: string): Promise<void> {
      if (typeof token !== 'string' || token.length === 0 || token.length > TOKEN_TEXT_MAX) return;
      await db.run('DELETE FROM sessions WHERE id = $1', [tokenId(token)]);
    },

    /** A user by id. */
    async getUser(userId: string): Promise<User | undefined> {
      const row = await db.one<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1`, [userId]);
      return row && userFromRow(row);
    },

    /** Creates an organisation owned by `ownerId`. */
    async createOrganisation(input: { name: string; ownerId: string }): Promise<Organisation> {
      const name = normalizeName(input.name);
      const organisation: Organisation = { id: randomUUID(), name, createdAt: now() };
      await db.tx(async (t) => {
        if (!(await t.one('SELECT id FROM users WHERE id = $1', [input.ownerId]))) throw notFound('user');
        await t.run('INSERT INTO organisations (id, name, created_at) VALUES ($1, $2, $3)', [
          organisation.id,
          name,
          organisation.createdAt,
        ]);
        await addMember(t, organisation.id, input.ownerId, 'owner');
      });
      return organisation;
    },

    /**
     * Invites `email` into an organisation and returns the token to send them (only its hash is
     * stored). Owners and admins invite; only an owner may invite another owner.
     */
    async createInvitation(input: { orgId: string; email: string; role: OrgRole; invitedBy: string }): Promise<string> {
      const email = normalizeEmail(input.email);
      const role = parse(roleSchema, 'role', input.role);
      const token = newToken();
      await db.tx(async (t) => {
        await lockOrg(t, input.orgId);
        const inviterRole = await roleOf(t, input.orgId, input.invitedBy);
        if (inviterRole !== 'owner' && inviterRole !== 'admin') {
          throw notAllowed('invite members', 'only owners and admins of the organisation invite');
        }
        if (role === 'owner' && inviterRole !== 'owner') throw notAllowed('invite an owner', 'only owners invite owners');
        const member = await t.one(
          'SELECT m.user_id FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 AND u.email = $2',
          [input.orgId, email],
        );
        if (member) {
          throw new PortalError({ code: PortalErrorCode.ALREADY_MEMBER, orgId: input.orgId }, `${email} is a member already`, {
            hint: 'Change their role instead of inviting them again',
          });
        }
        const at = now();
        await t.run('DELETE FROM invitations WHERE org_id = $1 AND accepted_at IS NULL AND expires_at <= $2', [
          input.orgId,
          at - EXPIRED_INVITATION_KEEP_MS,
        ]);
        const pending = await t.one<{ n: number }>(
          'SELECT COUNT(*) AS n FROM invitations WHERE org_id = $1 AND accepted_at IS NULL AND expires_at > $2',
          [input.orgId, at],
        );
        if (Number(pending?.n ?? 0) >= PENDING_INVITATIONS_PER_ORG_MAX) {
          throw limitReached('pending invitations', PENDING_INVITATIONS_PER_ORG_MAX, 'Wait until some are accepted or expire');
        }
        await t.run(
          'INSERT INTO invitations (id, org_id, email, role, invited_by, created_at, expires_at, accepted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)',
          [tokenId(token), input.orgId, email, role, input.invitedBy, at, at + invitationTtlMs],
        );
      });
      return token;
    },

    /** Accepts an invitation for the signed-in `userId`, whose email must be the invited one. */
    async acceptInvitation(input: { token: string; userId: string }): Promise<{ orgId: string; role: OrgRole }> {
      if (typeof input.token !== 'string' || input.token.length === 0 || input.token.length > TOKEN_TEXT_MAX) {
        throw notFound('invitation', 'Ask the organisation for a new invitation');
      }
      const id = tokenId(input.token);
      return db.tx(async (t) => {
        const inv = await t.one<{ org_id: string; email: string; role: OrgRole; expires_at: number; accepted_at: number | null }>(
          'SELECT org_id, email, role, expires_at, accepted_at FROM invitations WHERE id = $1',
          [id],
        );
        if (inv === undefined) throw notFound('invitation', 'Ask the organisation for a new invitation');
        if (inv.accepted_at !== null) {
          throw new PortalError(
            { code: PortalErrorCode.INVITATION_USED, acceptedAt: inv.accepted_at },
            'this invitation was accepted already',
            {
              hint: 'Sign in with the account that accepted it, or ask the organisation for a new invitation',
            },
          );
        }
        if (inv.expires_at <= now()) {
          throw new PortalError(
            { code: PortalErrorCode.INVITATION_EXPIRED, expiresAt: inv.expires_at },
            'this invitation has expired',
            {
              hint: 'Ask the organisation for a new invitation',
            },
          );
        }
        const user = await t.one<{ email: string }>('SELECT email FROM users WHERE id = $1', [input.userId]);
        if (user === undefined) throw notFound('user');
        // Both sides are stored lower-cased; lower() again keeps the rule if that ever changes.
        if (user.email.toLowerCase() !== inv.email.toLowerCase()) {
          throw new PortalError(
            { code: PortalErrorCode.INVITATION_WRONG_EMAIL },
            'this invitation was sent to another email address',
            {
              hint: 'Sign in with the invited email address, or ask for an invitation to yours',
            },
          );
        }
        await lockOrg(t, inv.org_id);
        if (await roleOf(t, inv.org_id, input.userId)) {
          throw new PortalError(
            { code: PortalErrorCode.ALREADY_MEMBER, orgId: inv.org_id },
            'you are a member of this organisation already',
            {
              hint: 'Open the organisation from your list',
            },
          );
        }
        await addMember(t, inv.org_id, input.userId, inv.role);
        const { changes } = await t.run('UPDATE invitations SET accepted_at = $1 WHERE id = $2 AND accepted_at IS NULL', [
          now(),
          id,
        ]);
        // Another request accepted it between our read and this write (PostgreSQL, READ COMMITTED).
        if (changes !== 1) {
          throw new PortalError(
            { code: PortalErrorCode.INVITATION_USED, acceptedAt: now() },
            'this invitation was accepted already',
            {
              hint: 'Reload the page',
            },
          );
        }
        return { orgId: inv.org_id, role: inv.role };
      });
    },

    /** The role of `userId` in `orgId`, or undefined when not a member. */
    async roleIn(orgId: string, userId: string): Promise<OrgRole | undefined> {
      return roleOf(db, orgId, userId);
    },

    /** The members of an organisation, oldest first (at most MEMBERS_PER_ORG_MAX). */
    async listMembers(orgId: string): Promise<Member[]> {
      const rows = await db.all<{ user_id: string; email: string; name: string; role: OrgRole; created_at: number }>(
        'SELECT m.user_id, u.email, u.name, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY m.created_at, u.email',
        [orgId],
      );
      return rows.map((r) => ({ userId: r.user_id, email: r.email, name: r.name, role: r.role, joinedAt: r.created_at }));
    },

    /** Changes a member's role; owners and admins may, only owners touch owners, and the last owner stays. */
    async setRole(input: { orgId: string; userId: string; role: OrgRole; actorId: string }): Promise<void> {
      const role = parse(roleSchema, 'role', input.role);
      await db.tx(async (t) => {
        await lockOrg(t, input.orgId);
        const actorRole = await roleOf(t, input.orgId, input.actorId);
        if (actorRole !== 'owner' && actorRole !== 'admin')
          throw notAllowed('change roles', 'only owners and admins change roles');
        const current = await roleOf(t, input.orgId, input.userId);
        if (current === undefined) throw notFound('member');
        if ((current === 'owner' || role === 'owner') && actorRole !== 'owner') {
          throw notAllowed('change an owner', 'only owners make or unmake owners');
        }
        if (current === 'owner' && role !== 'owner' && (await countOwners(t, input.orgId)) <= 1) throw lastOwner(input.orgId);
        await t.run('UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3', [role, input.orgId, input.userId]);
      });
    },

    /** Removes a member (or lets a member leave); owners and admins remove others, and the last owner stays. */
    async removeMember(input: { orgId: string; userId: string; actorId: string }): Promise<void> {
      await db.tx(async (t) => {
        await lockOrg(t, input.orgId);
        const current = await roleOf(t, input.orgId, input.userId);
        if (current === undefined) throw notFound('member');
        if (input.actorId !== input.userId) {
          const actorRole = await roleOf(t, input.orgId, input.actorId);
          if (actorRole !== 'owner' && actorRole !== 'admin')
            throw notAllowed('remove members', 'only owners and admins remove members');
          if (current === 'owner' && actorRole !== 'owner') throw notAllowed('remove an owner', 'only owners remove owners');
        }
        if (current === 'owner' && (await countOwners(t, input.orgId)) <= 1) throw lastOwner(input.orgId);
        await t.run('DELETE FROM memberships WHERE org_id = $1 AND user_id = $2', [input.orgId, input.userId]);
      });
    },

    /** The organisations of a user with their role, oldest membership first (at most ORGS_PER_USER_MAX). */
    async orgsOf(userId: string): Promise<UserOrganisation[]> {
      const rows = await db.all<{ id: string; name: string; created_at: number; role: OrgRole }>(
        'SELECT o.id, o.name, o.created_at, m.role FROM memberships m JOIN organisations o ON o.id = m.org_id WHERE m.user_id = $1 ORDER BY m.created_at, o.id',
        [userId],
      );
      return rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at, role: r.role }));
    },

    /**
     * Links a secp256k1 address to the user, replacing an earlier one. The caller checks that the
     * user holds its key (a signature); an address links to one account only, since the system
     * ledger's grants name addresses and two accounts must not share one regulator's grant.
     */
    async linkAddress(userId: string, address: string): Promise<string> {
      const normalized = typeof address === 'string' ? address.trim().toLowerCase() : '';
      if (!ADDRESS_PATTERN.test(normalized)) throw invalidInput('address', 'must be 0x and 40 hex digits');
      try {
        await db.run(
          `INSERT INTO user_addresses (user_id, address, linked_at) VALUES ($1, $2, $3)
           ON CONFLICT (user_id) DO UPDATE SET address = excluded.address, linked_at = excluded.linked_at`,
          [userId, normalized, now()],
        );
      } catch (err) {
        if (isUniqueViolation(err))
          throw invalidInput('address', 'is linked to another portal account already: link an address of your own');
        throw err;
      }
      return normalized;
    },

    /** The address linked to the user (lower-case), or undefined. */
    async addressOf(userId: string): Promise<string | undefined> {
      const row = await db.one<{ address: string }>('SELECT address FROM user_addresses WHERE user_id = $1', [userId]);
      return row?.address;
    },
  };
}

function lastOwner(orgId: string): PortalError {
  return new PortalError({ code: PortalErrorCode.LAST_OWNER, orgId }, 'an organisation needs at least one owner', {
    hint: 'Make another member an owner first',
  });
}
