/**
 * The audit log (ADR 0008): append-only and hash-chained in LMDB. Editing one stored entry is
 * caught by the chain check at that seq; rewriting the whole chain consistently passes the chain
 * check but not the anchor the node put on the system ledger.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bytesToUtf8, utf8ToBytes } from '@polis/core';
import { getAuditAnchor } from '@polis/governance';
import { openLedgerDatabase } from '@polis/ledger';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { type AuditEntry, AuditLog, auditEntryHash, verifyAuditChain } from '../src/gateway/audit.js';
import { grantAppKey } from '../src/index.js';
import { restCall, startDevNode, TEST_APP } from './devNode.js';

const logger = pino({ level: 'silent' });
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'polis-audit-test-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function seqKey(seq: number): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(seq));
  return new Uint8Array(b);
}

/** Rewrites stored entries directly in LMDB, as an attacker with the disk would. */
async function editStored(dir: string, edit: (entries: AuditEntry[]) => AuditEntry[]): Promise<void> {
  const db = openLedgerDatabase({ path: dir, maxTables: 4 });
  const table = db.table('audit.entries');
  const entries: AuditEntry[] = [];
  for (const key of table.keys(seqKey(1), seqKey(Number.MAX_SAFE_INTEGER))) {
    entries.push(JSON.parse(bytesToUtf8(table.get(key) as Uint8Array)));
  }
  const edited = edit(entries);
  await db.write((txn) => {
    for (const e of edited) txn.put(table, seqKey(e.seq), utf8ToBytes(JSON.stringify(e)));
  });
  await db.close();
}

async function fill(log: AuditLog, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await log.record({
      actor: `key${i % 3}`,
      scope: 'regulator',
      app: i % 2 ? 'demo' : 'other',
      action: 'rpc eth_call',
      detail: { i },
    });
  }
}

describe('audit log', () => {
  it('default: entries chain from the zero hash, survive a reopen, and are read per app', async () => {
    const dir = tempDir();
    let log = AuditLog.open({ dir, logger });
    await fill(log, 10);
    const head = log.head();
    await log.close();
    log = AuditLog.open({ dir, logger });
    expect(log.head()).toEqual(head);
    const all = log.entries();
    expect(all.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(verifyAuditChain(all)).toEqual({ ok: true, count: 10, head });
    expect(log.verify()).toEqual({ ok: true, count: 10, head });
    expect(log.entriesOf('demo').map((e) => e.seq)).toEqual([2, 4, 6, 8, 10]);
    expect(log.entriesOf('demo', 4, 2).map((e) => e.seq)).toEqual([6, 8]);
    await log.record({ actor: 'k', scope: 'admin', app: 'demo', action: 'POST x', detail: {} });
    expect(log.entries(10)[0]?.prevHash).toBe(head.hash);
    await log.close();
  });

  it('error: altering one stored entry is detected at its seq', async () => {
    const dir = tempDir();
    const log = AuditLog.open({ dir, logger });
    await fill(log, 8);
    await log.close();
    // The regulator's read of entry 5 is made to look like another key's.
    await editStored(dir, (entries) => entries.filter((e) => e.seq === 5).map((e) => ({ ...e, actor: 'someone-else' })));
    const reopened = AuditLog.open({ dir, logger });
    const check = reopened.verify();
    expect(check.ok).toBe(false);
    expect(check.ok ? 0 : check.seq).toBe(5);
    expect(verifyAuditChain(reopened.entries())).toMatchObject({ ok: false, seq: 5 });
    await reopened.close();
  });

  it('error: re-hashing an altered entry breaks the link of the next one', () => {
    const base = { at: 1, actor: 'a', scope: 'regulator', app: 'demo', action: 'rpc x', detail: '{}' };
    const entries: AuditEntry[] = [];
    let prev = `0x${'00'.repeat(32)}`;
    for (let seq = 1; seq <= 4; seq++) {
      const e = { ...base, seq, prevHash: prev };
      const hash = auditEntryHash(e);
      entries.push({ ...e, hash });
      prev = hash;
    }
    expect(verifyAuditChain(entries).ok).toBe(true);
    const forged = { ...(entries[1] as AuditEntry), detail: '{"forged":true}' };
    forged.hash = auditEntryHash(forged);
    const check = verifyAuditChain([entries[0] as AuditEntry, forged, ...entries.slice(2)]);
    expect(check).toMatchObject({ ok: false, seq: 3 });
    expect(verifyAuditChain([entries[0] as AuditEntry, ...entries.slice(2)])).toMatchObject({ ok: false, seq: 3 });
  });

  it('behavior: the head is sent for anchoring every N entries, one at a time', async () => {
    const sent: Array<{ seq: number; hash: string }> = [];
    let latest: { seq: number; hash: string } | undefined;
    const log = AuditLog.open({
      dir: tempDir(),
      logger,
      anchorEvery: 5,
      anchorIntervalMs: 60_000,
      anchor: { latest: () => latest, submit: (seq, hash) => void sent.push({ seq, hash }) },
    });
    await fill(log, 4);
    expect(sent).toEqual([]);
    await fill(log, 1);
    expect(sent).toEqual([{ seq: 5, hash: log.entries(4)[0]?.hash }]);
    // Until the first anchor is included, no second one is sent.
    await fill(log, 6);
    expect(sent.length).toBe(1);
    latest = sent[0];
    await fill(log, 1);
    expect(sent.map((s) => s.seq)).toEqual([5, 12]);
    await log.close();
  });
});

describe('audit log anchored on the system ledger', () => {
  it('default: the anchored hash matches the log; a consistently rewritten log no longer matches it', async () => {
    const dev = await startDevNode({
      gateway: { reloadMs: 50 },
      system: {
        chainId: 78,
        admins: ['0x00000000000000000000000000000000000000aa'],
        threshold: 1,
        operator: '0x00000000000000000000000000000000000000aa',
      },
    });
    try {
      const regulator = grantAppKey(dev.accessFile, { appId: TEST_APP.id, plan: 'dedicated', scopes: ['regulator'] });
      let served = 0;
      for (let i = 0; i < 100 && served < 5; i++) {
        if ((await restCall(dev, '/blocks/latest', { key: regulator })).status === 200) served++;
        else await sleep(50);
      }
      expect(served).toBe(5);
      const gateway = dev.node.gateway;
      const nodeKey = dev.node.publicKey;
      const head = gateway.audit.head();
      await gateway.audit.anchorNow();
      let anchor = getAuditAnchor(dev.node.system?.app.state as never, nodeKey);
      for (let i = 0; i < 200 && !anchor; i++) {
        await sleep(25);
        anchor = getAuditAnchor(dev.node.system?.app.state as never, nodeKey);
      }
      expect(anchor?.seq).toBe(head.seq);
      expect(anchor?.hash).toBe(head.hash);
      expect(gateway.audit.checkAnchor(anchor as { seq: number; hash: string })).toEqual({ ok: true });
      // The owner sees the anchor beside the entries.
      const owner = await restCall(dev, '/audit');
      expect(owner.body.anchor).toEqual({ ...anchor });

      const auditDir = join(dev.dir, 'data', 'gateway', 'audit');
      await dev.node.close();
      // Rewrite entry 1 and re-chain everything after it: the chain check alone cannot tell.
      await editStored(auditDir, (entries) => {
        let prev = `0x${'00'.repeat(32)}`;
        return entries.map((e) => {
          const { hash: _old, ...rest } = e;
          const changed = { ...rest, prevHash: prev, ...(e.seq === 1 ? { actor: 'someone-else' } : {}) };
          prev = auditEntryHash(changed);
          return { ...changed, hash: prev };
        });
      });
      const log = AuditLog.open({ dir: auditDir, logger });
      expect(log.verify().ok).toBe(true);
      const check = log.checkAnchor(anchor as { seq: number; hash: string });
      expect(check).toMatchObject({ ok: false, seq: anchor?.seq });
      await log.close();
    } finally {
      await dev.close().catch(() => undefined);
    }
  });
});
