/**
 * The state transition is pure and deterministic: the sources use no clock, randomness, timers,
 * async code or I/O; applying a transaction never changes its input state; and the same genesis
 * and transactions give the same root, whatever order the state's maps were filled in.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bytesToHex } from '@polis/core';
import { describe, expect, it } from 'vitest';
import {
  type ApplyContext,
  applyGovTx,
  createGenesisState,
  decodeState,
  encodeState,
  type GovState,
  stateRoot,
} from '../src/index.js';
import { ADMINS, account, Chain, DAY_MS, expectOk, genesisOptions, OWNER, richChain } from './helpers.js';

const SRC_DIR = resolve(import.meta.dirname, '../src');

const FORBIDDEN: Array<[RegExp, string]> = [
  [/\bDate\b/, 'the clock (Date)'],
  [/\bperformance\s*\./, 'the clock (performance)'],
  [/\bprocess\s*\./, 'the process'],
  [/\bMath\.random\b/, 'randomness (Math.random)'],
  [/\b(randomBytes|randomUUID|getRandomValues|generateSecp256k1PrivateKey|generateEd25519Seed)\b/, 'randomness'],
  [/\b(setTimeout|setInterval|setImmediate|queueMicrotask)\b/, 'timers'],
  [/\bawait\b|\basync\b|\bPromise\b/, 'asynchronous code (the transition is synchronous)'],
];

/** The source without comments, so that prose may mention the forbidden things. */
function withoutComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
}

/**
 * What a source uses that a pure transition may not: the forbidden globals above (outside
 * comments and quoted strings), and any module but its own files and @polis/core.
 */
function violations(source: string): string[] {
  const body = withoutComments(source);
  const found: string[] = [];
  for (const m of body.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)['"]([^'"]+)['"]/g)) {
    const spec = m[1] as string;
    if (!spec.startsWith('./') && spec !== '@polis/core') found.push(`the module ${spec}`);
  }
  const code = body.replace(/'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"/g, "''");
  for (const [re, what] of FORBIDDEN) if (re.test(code)) found.push(what);
  return found;
}

describe('purity of the sources', () => {
  const files = readdirSync(SRC_DIR).filter((f) => f.endsWith('.ts'));

  it('default: has the files to check', () => {
    expect(files).toEqual(expect.arrayContaining(['apply.ts', 'actions.ts', 'codec.ts', 'state.ts', 'tx.ts']));
  });

  for (const file of files) {
    it(`default: ${file} uses no clock, randomness, timers, async code or I/O`, () => {
      expect(violations(readFileSync(join(SRC_DIR, file), 'utf8')), file).toEqual([]);
    });
  }

  it('behavior: the checker catches each forbidden use, and not mentions in comments', () => {
    const samples = [
      'const t = Date.now();',
      'const r = Math.random();',
      'setTimeout(f, 1);',
      "import { readFileSync } from 'node:fs';",
      "import { readFileSync } from 'fs';",
      "import { hash } from 'node:crypto';",
      'const b = randomBytes(4);',
      'async function f() {}',
      'const e = process.env.X;',
      "const fs = require('fs');",
    ];
    for (const s of samples) expect(violations(s).length, s).toBeGreaterThan(0);
    expect(violations('// Date.now() is mentioned in a comment only\nconst x = 1;')).toEqual([]);
    expect(violations("const m = 'call setTimeout later';")).toEqual([]);
    expect(violations("import { keccak256 } from '@polis/core';")).toEqual([]);
  });
});

/** Replays `log` on `state`, checking after each step that the input state did not change. */
function replay(state: GovState, log: ReadonlyArray<{ tx: Uint8Array; ctx: ApplyContext }>): GovState {
  let current = state;
  for (const [i, { tx, ctx }] of log.entries()) {
    const before = encodeState(current);
    const { state: next } = applyGovTx(current, tx, ctx);
    expect(encodeState(current), `step ${i} changed its input state`).toEqual(before);
    current = next;
  }
  return current;
}

describe('determinism', () => {
  it('default: applying transactions never changes the input state', () => {
    const chain = richChain();
    expect(chain.log.length).toBeGreaterThan(30);
    replay(createGenesisState(genesisOptions({ adminCount: 4, threshold: 2 })), chain.log);
  });

  it('default: two runs of the same transactions give the same state root', () => {
    const chain = richChain();
    const genesis = () => createGenesisState(genesisOptions({ adminCount: 4, threshold: 2 }));
    const a = replay(genesis(), chain.log);
    const b = replay(genesis(), chain.log);
    expect(bytesToHex(stateRoot(a))).toBe(bytesToHex(stateRoot(chain.state)));
    expect(bytesToHex(stateRoot(b))).toBe(bytesToHex(stateRoot(a)));
    expect(encodeState(b)).toEqual(encodeState(a));
  });

  it('behavior: a state read back from its pairs behaves exactly like the live one (receipts, events, root)', () => {
    const live = richChain();
    const restored = new Chain(decodeState(encodeState(live.state)));
    restored.height = live.height;
    restored.time = live.time;
    // Actions whose events list several apps or keys, where map order could leak into the output.
    const steps = (c: Chain) => [
      c.send(ADMINS[0], {
        type: 'propose',
        action: { type: 'removeNode', publicKey: c.state.apps.get('shop')?.observers[0] ?? '0x' },
        expiresAt: c.time + DAY_MS,
      }),
      c.send(ADMINS[1], { type: 'approve', proposalId: c.state.nextProposalId - 1 }),
      c.send(ADMINS[0], { type: 'propose', action: { type: 'setPlan', name: 'free', limits: null }, expiresAt: c.time + DAY_MS }),
      c.send(OWNER, { type: 'putParticipant', appId: 'shop', address: account('carol').address, role: 'user' }),
    ];
    const a = steps(live);
    const b = steps(restored);
    expectOk(a[0]?.receipt ?? { status: 'failed', events: [] });
    expect(b.map((s) => s.receipt)).toEqual(a.map((s) => s.receipt));
    expect(bytesToHex(stateRoot(restored.state))).toBe(bytesToHex(stateRoot(live.state)));
  });

  it('behavior: a different transaction order gives a different root (the root commits to the state)', () => {
    const a = Chain.genesis({ threshold: 1 });
    const b = Chain.genesis({ threshold: 1 });
    expect(bytesToHex(stateRoot(a.state))).toBe(bytesToHex(stateRoot(b.state)));
    a.send(OWNER, {
      type: 'requestApp',
      id: 'x',
      chainId: 100,
      validators: [a.state.nodes.keys().next().value as never],
      observers: [],
      plan: 'free',
      keyMode: 'upload',
      accessPolicy: 'open',
    });
    expect(bytesToHex(stateRoot(a.state))).not.toBe(bytesToHex(stateRoot(b.state)));
  });
});
