/**
 * Accounts, sessions, throttling, organisations and invitations on both engines. scrypt runs at
 * N = 2^10 here to keep the tests fast; one test checks the production default on its own.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type Accounts,
  createAccounts,
  type Db,
  hashPassword,
  INVITATION_TTL_MS_DEFAULT,
  PortalErrorCode,
  SESSION_TOUCH_INTERVAL_MS,
  SESSION_TTL_MS_DEFAULT,
  SESSIONS_PER_USER_MAX,
  tokenId,
  verifyPassword,
} from '../src/server/store/index.js';
import { clearAll, countRows, ENGINES, type Engine, expectCode, migratedDb } from './storeFixture.js';

const T0 = 1_750_000_000_000;
const WINDOW_MS = 15 * 60_000;
const PASSWORD = 'correct horse battery';
const IP = '203.0.113.7';

describe('password hashing', () => {
  it('default: scrypt N=2^15, r=8, p=1 in the stored form, verified in constant time', async () => {
    const stored = await hashPassword(PASSWORD);
    expect(stored).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(await verifyPassword(PASSWORD, stored)).toBe(true);
    expect(await verifyPassword(`${PASSWORD}!`, stored)).toBe(false);
  });

  it('behavior: two hashes of one password differ (random salt)', async () => {
    const params = { N: 1024, r: 8, p: 1 };
    expect(await hashPassword(PASSWORD, params)).not.toBe(await hashPassword(PASSWORD, params));
  });

  it('behavior: the same password in another Unicode normal form matches', async () => {
    const stored = await hashPassword('caf\u00e9 au lait!', { N: 1024, r: 8, p: 1 });
    expect(await verifyPassword('cafe\u0301 au lait!', stored)).toBe(true);
  });
});

describe.each(ENGINES)('store accounts on $name', ({ make }) => {
  let engine: Engine;
  let db: Db;
  let clock: number;
  let accounts: Accounts;

  beforeAll(async () => {
    engine = make();
    db = await migratedDb(engine);
  });

  afterAll(async () => {
    await engine.cleanup();
  });

  beforeEach(async () => {
    await clearAll(db);
    clock = T0;
    accounts = createAccounts(db, { now: () => clock, scrypt: { N: 1024 } });
  });

  async function signUp(email: string, name = 'Alice Example'): Promise<string> {
    return (await accounts.signUp({ email, name, password: PASSWORD })).user.id;
  }

  async function wrongPassword(email: string, ip = IP): Promise<void> {
    await expectCode(accounts.signIn({ email, password: 'not the password', ip }), PortalErrorCode.BAD_CREDENTIALS);
  }

  describe('sign-up', () => {
    it('default: creates the user and a personal organisation it owns', async () => {
      const { user, organisation } = await accounts.signUp({ email: '  Alice@Example.COM ', name: 'Alice', password: PASSWORD });
      expect(user).toEqual({ id: user.id, email: 'alice@example.com', name: 'Alice', kind: 'developer', createdAt: T0 });
      expect(user).not.toHaveProperty('passwordHash');
      expect(await accounts.orgsOf(user.id)).toEqual([{ ...organisation, role: 'owner' }]);
      expect(await accounts.listMembers(organisation.id)).toEqual([
        { userId: user.id, email: 'alice@example.com', name: 'Alice', role: 'owner', joinedAt: T0 },
      ]);
      const row = await db.one<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [user.id]);
      expect(row?.password_hash).toMatch(/^scrypt\$1024\$8\$1\$/);
      expect(row?.password_hash).not.toContain(PASSWORD);
    });

    it('behavior: the kind is kept', async () => {
      const { user } = await accounts.signUp({ email: 'op@example.com', name: 'Op', password: PASSWORD, kind: 'operator' });
      expect((await accounts.getUser(user.id))?.kind).toBe('operator');
    });

    it('error: a duplicate email, in any case, is EMAIL_TAKEN with a clear message', async () => {
      await signUp('alice@example.com');
      for (const email of ['alice@example.com', 'ALICE@example.com', ' Alice@Example.Com']) {
        const err = await expectCode(
          accounts.signUp({ email, name: 'Other', password: 'another password' }),
          PortalErrorCode.EMAIL_TAKEN,
        );
        expect(err.message, email).toBe('an account with this email already exists: sign in instead, or reset the password');
      }
      expect(await countRows(db, 'users')).toBe(1);
      expect(await countRows(db, 'organisations')).toBe(1);
    });

    it('error: concurrent sign-ups with one email create one account', async () => {
      const results = await Promise.allSettled(
        ['bob@example.com', 'BOB@example.com', 'Bob@Example.com'].map((email) =>
          accounts.signUp({ email, name: 'Bob', password: PASSWORD }),
        ),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) {
        if (r.status === 'rejected') expect((r.reason as { code?: string }).code).toBe(PortalErrorCode.EMAIL_TAKEN);
      }
      expect(await countRows(db, 'users')).toBe(1);
      expect(await countRows(db, 'organisations')).toBe(1);
    });

    it('error: malformed fields are INVALID_INPUT naming the field', async () => {
      const cases = [
        { input: { email: 'not-an-email', name: 'A', password: PASSWORD }, field: 'email' },
        { input: { email: 'a@example.com', name: 'A', password: 'short' }, field: 'password' },
        { input: { email: 'a@example.com', name: '   ', password: PASSWORD }, field: 'name' },
        { input: { email: 'a@example.com', name: 'x'.repeat(81), password: PASSWORD }, field: 'name' },
        { input: { email: 'a@example.com', name: 'A', password: PASSWORD, kind: 'root' as never }, field: 'kind' },
      ];
      for (const { input, field } of cases) {
        const err = await expectCode(accounts.signUp(input), PortalErrorCode.INVALID_INPUT);
        expect(err.type, JSON.stringify(input)).toMatchObject({ field });
      }
      expect(await accounts.signUp({ email: 'a@example.com', name: 'x'.repeat(80), password: 'x'.repeat(10) })).toBeDefined();
      expect(await countRows(db, 'users')).toBe(1);
    });
  });

  describe('sign-in and sessions', () => {
    it('default: signs in, and the token opens the session until it expires', async () => {
      const id = await signUp('alice@example.com');
      const { token, user, expiresAt } = await accounts.signIn({ email: 'Alice@example.com', password: PASSWORD, ip: IP });
      expect(user.id).toBe(id);
      expect(expiresAt).toBe(T0 + SESSION_TTL_MS_DEFAULT);
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(await countRows(db, 'sessions', 'id = $1', [token])).toBe(0);
      expect(await countRows(db, 'sessions', 'id = $1', [tokenId(token)])).toBe(1);
      expect((await accounts.session(token))?.id).toBe(id);
      clock = expiresAt - 1;
      expect((await accounts.session(token))?.id).toBe(id);
      clock = expiresAt;
      expect(await accounts.session(token)).toBeUndefined();
      expect(await countRows(db, 'sessions')).toBe(0);
    });

    it('behavior: last_seen_at is written at most once a minute', async () => {
      await signUp('alice@example.com');
      const { token } = await accounts.signIn({ email: 'alice@example.com', password: PASSWORD, ip: IP });
      const lastSeen = async () =>
        (await db.one<{ last_seen_at: number }>('SELECT last_seen_at FROM sessions WHERE id = $1', [tokenId(token)]))
          ?.last_seen_at;
      clock = T0 + SESSION_TOUCH_INTERVAL_MS - 1;
      await accounts.session(token);
      expect(await lastSeen()).toBe(T0);
      clock = T0 + SESSION_TOUCH_INTERVAL_MS;
      await accounts.session(token);
      expect(await lastSeen()).toBe(T0 + SESSION_TOUCH_INTERVAL_MS);
    });

    it('behavior: sign-out ends the session', async () => {
      await signUp('alice@example.com');
      const first = await accounts.signIn({ email: 'alice@example.com', password: PASSWORD, ip: IP });
      const second = await accounts.signIn({ email: 'alice@example.com', password: PASSWORD, ip: IP });
      await accounts.signOut(first.token);
      expect(await accounts.session(first.token)).toBeUndefined();
      expect(await accounts.session(second.token)).toBeDefined();
      await accounts.signOut(first.token);
      expect(await accounts.session('not a token')).toBeUndefined();
    });

    it(`behavior: a user keeps at most ${SESSIONS_PER_USER_MAX} sessions, the oldest is dropped`, async () => {
      await signUp('alice@example.com');
      const tokens: string[] = [];
      for (let i = 0; i <= SESSIONS_PER_USER_MAX; i++) {
        clock = T0 + i;
        tokens.push((await accounts.signIn({ email: 'alice@example.com', password: PASSWORD, ip: IP })).token);
      }
      expect(await countRows(db, 'sessions')).toBe(SESSIONS_PER_USER_MAX);
      expect(await accounts.session(tokens[0] as string)).toBeUndefined();
      expect(await accounts.session(tokens[1] as string)).toBeDefined();
      expect(await accounts.session(tokens[SESSIONS_PER_USER_MAX] as string)).toBeDefined();
    });

    it('behavior: a hash made at a lower cost is redone at the current cost on sign-in', async () => {
      const id = await signUp('alice@example.com');
      const stronger = createAccounts(db, { now: () => clock, scrypt: { N: 2048 } });
      await stronger.signIn({ email: 'alice@example.com', password: PASSWORD, ip: IP });
      const row = await db.one<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [id]);
      expect(row?.password_hash).toMatch(/^scrypt\$2048\$8\$1\$/);
      expect((await accounts.signIn({ email: 'alice@example.com', password: PASSWORD, ip: IP })).user.id).toBe(id);
    });

    it('error: a wrong password and an unknown email give the same answer', async () => {
      await signUp('alice@example.com');
      const wrong = await expectCode(
        accounts.signIn({ email: 'alice@example.com', password: 'wrong password', ip: IP }),
        PortalErrorCode.BAD_CREDENTIALS,
      );
      const unknown = await expectCode(
        accounts.signIn({ email: 'nobody@example.com', password: PASSWORD, ip: IP }),
        PortalErrorCode.BAD_CREDENTIALS,
      );
      expect(unknown.message).toBe(wrong.message);
      expect(unknown.type).toEqual(wrong.type);
      expect(await countRows(db, 'sessions')).toBe(0);
    });
  });

  describe('throttling', () => {
    it('error: the 6th attempt within 15 minutes is THROTTLED even with the right password, then allowed', async () => {
      await signUp('alice@example.com');
      for (let i = 0; i < 5; i++) {
        clock = T0 + i * 1000;
        await wrongPassword('alice@example.com');
      }
      clock = T0 + 10_000;
      const err = await expectCode(
        accounts.signIn({ email: 'alice@example.com', password: PASSWORD, ip: '198.51.100.1' }),
        PortalErrorCode.THROTTLED,
      );
      // The oldest of the 5 failures (at T0) leaves the window at T0 + 15 min.
      expect(err.type).toEqual({
        code: PortalErrorCode.THROTTLED,
        scope: 'email',
        retryAfterSeconds: (WINDOW_MS - 10_000) / 1000,
      });
      expect(err.message).toMatch(/try again in 890 seconds/i);
      expect(await countRows(db, 'sessions')).toBe(0);
      clock = T0 + WINDOW_MS - 1;
      await expectCode(accounts.signIn({ email: 'alice@example.com', password: PASSWORD, ip: IP }), PortalErrorCode.THROTTLED);
      clock = T0 + WINDOW_MS;
      const ok = await accounts.signIn({ email: 'alice@example.com', password: PASSWORD, ip: IP });
      expect(ok.user.email).toBe('alice@example.com');
    });

    it('behavior: a successful sign-in clears the email counter', async () => {
      await signUp('alice@example.com');
      for (let i = 0; i < 4; i++) await wrongPassword('alice@example.com');
      await accounts.signIn({ email: 'alice@example.com', password: PASSWORD, ip: IP });
      for (let i = 0; i < 5; i++) await wrongPassword('alice@example.com');
      await expectCode(accounts.signIn({ email: 'alice@example.com', password: PASSWORD, ip: IP }), PortalErrorCode.THROTTLED);
    });

    it('error: 20 failures from one address throttle it for every email', async () => {
      await signUp('alice@example.com');
      for (let i = 0; i < 20; i++) await wrongPassword(`user${i}@example.com`);
      const err = await expectCode(
        accounts.signIn({ email: 'alice@example.com', password: PASSWORD, ip: IP }),
        PortalErrorCode.THROTTLED,
      );
      expect(err.type).toMatchObject({ scope: 'ip' });
      const elsewhere = await accounts.signIn({ email: 'alice@example.com', password: PASSWORD, ip: '198.51.100.2' });
      expect(elsewhere.user.email).toBe('alice@example.com');
    });

    it('behavior: concurrent guesses cannot pass the limit', async () => {
      await signUp('alice@example.com');
      const results = await Promise.allSettled(
        Array.from({ length: 12 }, () => accounts.signIn({ email: 'alice@example.com', password: 'guess guess', ip: IP })),
      );
      const codes = results.map((r) => (r.status === 'rejected' ? (r.reason as { code?: string }).code : 'signed-in'));
      expect(codes.filter((c) => c === PortalErrorCode.BAD_CREDENTIALS).length).toBeLessThanOrEqual(5);
      expect(
        codes.every((c) => c === PortalErrorCode.BAD_CREDENTIALS || c === PortalErrorCode.THROTTLED),
        codes.join(),
      ).toBe(true);
    });

    it('behavior: failures older than the window are pruned', async () => {
      for (let i = 0; i < 3; i++) await wrongPassword('alice@example.com');
      expect(await countRows(db, 'login_attempts')).toBe(3);
      clock = T0 + WINDOW_MS;
      await wrongPassword('bob@example.com');
      expect(await countRows(db, 'login_attempts')).toBe(1);
    });
  });

  describe('organisations and invitations', () => {
    let alice: string;
    let org: string;

    beforeEach(async () => {
      alice = await signUp('alice@example.com', 'Alice');
      org = (await accounts.orgsOf(alice))[0]?.id as string;
    });

    it('default: an invited user joins with the invited role, the email matched in any case', async () => {
      const token = await accounts.createInvitation({ orgId: org, email: 'Bob@Example.com', role: 'admin', invitedBy: alice });
      expect(await countRows(db, 'invitations', 'id = $1', [tokenId(token)])).toBe(1);
      const bob = await signUp('bob@example.COM', 'Bob');
      clock = T0 + 1000;
      expect(await accounts.acceptInvitation({ token, userId: bob })).toEqual({ orgId: org, role: 'admin' });
      expect((await accounts.listMembers(org)).map((m) => [m.name, m.role])).toEqual([
        ['Alice', 'owner'],
        ['Bob', 'admin'],
      ]);
      expect((await accounts.orgsOf(bob)).map((o) => [o.id, o.role])).toContainEqual([org, 'admin']);
      expect(await accounts.roleIn(org, bob)).toBe('admin');
    });

    it('error: an invitation is used once', async () => {
      const token = await accounts.createInvitation({ orgId: org, email: 'bob@example.com', role: 'member', invitedBy: alice });
      const bob = await signUp('bob@example.com', 'Bob');
      await accounts.acceptInvitation({ token, userId: bob });
      const err = await expectCode(accounts.acceptInvitation({ token, userId: bob }), PortalErrorCode.INVITATION_USED);
      expect(err.type).toEqual({ code: PortalErrorCode.INVITATION_USED, acceptedAt: T0 });
    });

    it('error: an expired invitation is refused', async () => {
      const token = await accounts.createInvitation({ orgId: org, email: 'bob@example.com', role: 'member', invitedBy: alice });
      const bob = await signUp('bob@example.com', 'Bob');
      clock = T0 + INVITATION_TTL_MS_DEFAULT;
      await expectCode(accounts.acceptInvitation({ token, userId: bob }), PortalErrorCode.INVITATION_EXPIRED);
      expect(await accounts.roleIn(org, bob)).toBeUndefined();
    });

    it('error: an invitation for another email is refused', async () => {
      const token = await accounts.createInvitation({ orgId: org, email: 'bob@example.com', role: 'member', invitedBy: alice });
      const carol = await signUp('carol@example.com', 'Carol');
      await expectCode(accounts.acceptInvitation({ token, userId: carol }), PortalErrorCode.INVITATION_WRONG_EMAIL);
      expect(await accounts.roleIn(org, carol)).toBeUndefined();
      const bob = await signUp('bob@example.com', 'Bob');
      expect(await accounts.acceptInvitation({ token, userId: bob })).toEqual({ orgId: org, role: 'member' });
    });

    it('error: an unknown token is NOT_FOUND', async () => {
      await expectCode(accounts.acceptInvitation({ token: 'made-up', userId: alice }), PortalErrorCode.NOT_FOUND);
    });

    it('error: members and outsiders may not invite; admins may not invite owners', async () => {
      const bob = await signUp('bob@example.com', 'Bob');
      const carol = await signUp('carol@example.com', 'Carol');
      const outsider = await signUp('dave@example.com', 'Dave');
      await accounts.acceptInvitation({
        token: await accounts.createInvitation({ orgId: org, email: 'bob@example.com', role: 'member', invitedBy: alice }),
        userId: bob,
      });
      await accounts.acceptInvitation({
        token: await accounts.createInvitation({ orgId: org, email: 'carol@example.com', role: 'admin', invitedBy: alice }),
        userId: carol,
      });
      const invite = (invitedBy: string, role: 'owner' | 'member') =>
        accounts.createInvitation({ orgId: org, email: 'erin@example.com', role, invitedBy });
      await expectCode(invite(bob, 'member'), PortalErrorCode.NOT_ALLOWED);
      await expectCode(invite(outsider, 'member'), PortalErrorCode.NOT_ALLOWED);
      await expectCode(invite(carol, 'owner'), PortalErrorCode.NOT_ALLOWED);
      expect(await invite(carol, 'member')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      await expectCode(
        accounts.createInvitation({ orgId: org, email: 'bob@example.com', role: 'admin', invitedBy: alice }),
        PortalErrorCode.ALREADY_MEMBER,
      );
      await expectCode(
        accounts.createInvitation({ orgId: 'no-such-org', email: 'x@example.com', role: 'member', invitedBy: alice }),
        PortalErrorCode.NOT_FOUND,
      );
    });

    it('error: the last owner can be neither removed nor demoted', async () => {
      await expectCode(accounts.removeMember({ orgId: org, userId: alice, actorId: alice }), PortalErrorCode.LAST_OWNER);
      await expectCode(
        accounts.setRole({ orgId: org, userId: alice, role: 'admin', actorId: alice }),
        PortalErrorCode.LAST_OWNER,
      );
      const bob = await signUp('bob@example.com', 'Bob');
      await accounts.acceptInvitation({
        token: await accounts.createInvitation({ orgId: org, email: 'bob@example.com', role: 'admin', invitedBy: alice }),
        userId: bob,
      });
      await expectCode(accounts.removeMember({ orgId: org, userId: alice, actorId: bob }), PortalErrorCode.NOT_ALLOWED);
      await expectCode(accounts.setRole({ orgId: org, userId: bob, role: 'owner', actorId: bob }), PortalErrorCode.NOT_ALLOWED);
      await accounts.setRole({ orgId: org, userId: bob, role: 'owner', actorId: alice });
      await accounts.removeMember({ orgId: org, userId: alice, actorId: alice });
      expect(await accounts.listMembers(org)).toEqual([
        { userId: bob, email: 'bob@example.com', name: 'Bob', role: 'owner', joinedAt: T0 },
      ]);
      await expectCode(accounts.removeMember({ orgId: org, userId: bob, actorId: bob }), PortalErrorCode.LAST_OWNER);
    });

    it('behavior: owners and admins remove members, a member may leave', async () => {
      const bob = await signUp('bob@example.com', 'Bob');
      const carol = await signUp('carol@example.com', 'Carol');
      for (const [email, id] of [
        ['bob@example.com', bob],
        ['carol@example.com', carol],
      ] as const) {
        await accounts.acceptInvitation({
          token: await accounts.createInvitation({ orgId: org, email, role: 'member', invitedBy: alice }),
          userId: id,
        });
      }
      await expectCode(accounts.removeMember({ orgId: org, userId: carol, actorId: bob }), PortalErrorCode.NOT_ALLOWED);
      await accounts.removeMember({ orgId: org, userId: bob, actorId: bob });
      await accounts.removeMember({ orgId: org, userId: carol, actorId: alice });
      expect((await accounts.listMembers(org)).map((m) => m.userId)).toEqual([alice]);
      await expectCode(accounts.removeMember({ orgId: org, userId: carol, actorId: alice }), PortalErrorCode.NOT_FOUND);
    });

    it('behavior: a user can create more organisations', async () => {
      clock = T0 + 1;
      const second = await accounts.createOrganisation({ name: 'Second', ownerId: alice });
      expect((await accounts.orgsOf(alice)).map((o) => [o.name, o.role])).toEqual([
        ['Alice (personal)', 'owner'],
        ['Second', 'owner'],
      ]);
      expect(second.name).toBe('Second');
    });
  });
});
