/**
 * The consensus core is pure: no clock, no randomness, no timers, no I/O. Biome's
 * noRestrictedGlobals enforces part of this in the editor; this test enforces all of it in CI.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const CORE_DIR = resolve(import.meta.dirname, '../src/core');

const FORBIDDEN: Array<[RegExp, string]> = [
  [/\bDate\b/, 'the clock (Date)'],
  [/\bperformance\s*\./, 'the clock (performance)'],
  [/\bprocess\s*\./, 'the process'],
  [/\bMath\.random\b/, 'randomness (Math.random)'],
  [/\b(randomBytes|randomUUID|getRandomValues)\b/, 'randomness'],
  [/\b(setTimeout|setInterval|setImmediate|queueMicrotask)\b/, 'timers'],
  [/\bawait\b|\basync\b/, 'asynchronous code (the core is synchronous)'],
  [
    /from\s+['"](node:)?(fs|fs\/promises|net|http|https|dgram|dns|child_process|worker_threads|timers|crypto)['"]/,
    'an I/O module',
  ],
];

/** The source without comments, so that prose may mention the forbidden things. */
function code(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
}

function violations(source: string): string[] {
  const body = code(source);
  return FORBIDDEN.filter(([re]) => re.test(body)).map(([, what]) => what);
}

describe('purity of the consensus core', () => {
  const files = readdirSync(CORE_DIR).filter((f) => f.endsWith('.ts'));

  it('has files to check', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  for (const file of files) {
    it(`${file} uses no clock, randomness, timers or I/O`, () => {
      expect(violations(readFileSync(join(CORE_DIR, file), 'utf8')), file).toEqual([]);
    });
  }

  it('behavior: the checker catches each forbidden use', () => {
    const samples = [
      'const t = Date.now();',
      'const r = Math.random();',
      'setTimeout(f, 1);',
      "import { readFileSync } from 'node:fs';",
      'const b = randomBytes(4);',
      'async function f() {}',
      'const e = process.env.X;',
    ];
    for (const s of samples) expect(violations(s).length, s).toBeGreaterThan(0);
    expect(violations('// Date.now() is mentioned in a comment only\nconst x = 1;')).toEqual([]);
  });
});
