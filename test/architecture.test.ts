/**
 * Keeps ARCHITECTURE.md true. The "Depends on" column of its package table is the allowed
 * dependency graph; this test fails when a package imports another workspace package that the
 * table does not list, when it reaches into another package's files by a relative path, when a
 * package.json disagrees with the table, or when the table itself points against the layering.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const PACKAGES_DIR = join(ROOT, 'packages');

// The layers, lowest first. A package may depend only on packages in strictly lower layers.
// DESIGN.md: core <- consensus, ledger <- execution <- node <- cli; the SDK depends on core only.
const LAYER: Record<string, number> = {
  core: 0,
  consensus: 1,
  ledger: 1,
  sdk: 1,
  governance: 1,
  execution: 2,
  node: 3,
  portal: 4,
  cli: 5,
};
const SDK_ALLOWED = new Set(['core']);

// Node built-ins that mean I/O. @polis/core may not import them; see ARCHITECTURE.md.
const IO_MODULES = [
  'fs',
  'fs/promises',
  'net',
  'http',
  'https',
  'http2',
  'dgram',
  'dns',
  'child_process',
  'worker_threads',
  'tls',
];

/** Parses the package table of ARCHITECTURE.md into {package: dependencies}. */
function declaredGraph(): Map<string, Set<string>> {
  const text = readFileSync(join(ROOT, 'ARCHITECTURE.md'), 'utf8');
  const graph = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const m = /^\|\s*`(?:packages\/)?([a-z-]+)`\s*\|.*\|\s*([^|]*)\|\s*$/.exec(line);
    if (!m) continue;
    const deps = (m[2] ?? '').match(/`([a-z-]+)`/g)?.map((d) => d.replaceAll('`', '')) ?? [];
    graph.set(m[1] as string, new Set(deps));
  }
  return graph;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|tsx)$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Every module specifier a file imports or re-exports, statically or dynamically. */
function importsOf(source: string): string[] {
  const specs: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g;
  for (let m = re.exec(source); m; m = re.exec(source)) specs.push(m[1] as string);
  return specs;
}

const packages = readdirSync(PACKAGES_DIR).filter((p) => statSync(join(PACKAGES_DIR, p)).isDirectory());

describe('architecture', () => {
  const graph = declaredGraph();

  it('ARCHITECTURE.md has a row for every package, and only for packages that exist', () => {
    expect([...graph.keys()].sort()).toEqual([...packages].sort());
  });

  it('the declared graph points only down the layers', () => {
    for (const [pkg, deps] of graph) {
      expect(LAYER[pkg], `${pkg} has a layer`).toBeDefined();
      for (const dep of deps) {
        expect(LAYER[dep] as number, `${pkg} -> ${dep} must point to a lower layer`).toBeLessThan(LAYER[pkg] as number);
        if (pkg === 'sdk') expect(SDK_ALLOWED.has(dep), `sdk -> ${dep}: the SDK depends on core only`).toBe(true);
      }
    }
  });

  for (const pkg of packages) {
    it(`${pkg}: imports only the packages ARCHITECTURE.md allows`, () => {
      const allowed = graph.get(pkg) ?? new Set<string>();
      const srcDir = join(PACKAGES_DIR, pkg, 'src');
      for (const file of sourceFiles(srcDir)) {
        const rel = relative(ROOT, file);
        for (const spec of importsOf(readFileSync(file, 'utf8'))) {
          const workspace = /^@polis\/([a-z-]+)/.exec(spec);
          if (workspace) {
            expect(allowed.has(workspace[1] as string), `${rel} imports ${spec}, which ${pkg} may not depend on`).toBe(true);
          }
          if (spec.startsWith('.')) {
            const target = resolve(file, '..', spec);
            expect(target.startsWith(`${join(PACKAGES_DIR, pkg)}/`), `${rel} reaches into another package with ${spec}`).toBe(
              true,
            );
          }
          if (pkg === 'core') {
            const bare = spec.replace(/^node:/, '');
            expect(IO_MODULES.includes(bare), `${rel} imports ${spec}: @polis/core does no I/O`).toBe(false);
          }
        }
      }
    });

    it(`${pkg}: package.json lists exactly its declared workspace dependencies`, () => {
      const manifest = JSON.parse(readFileSync(join(PACKAGES_DIR, pkg, 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
      };
      const listed = Object.keys(manifest.dependencies ?? {})
        .filter((d) => d.startsWith('@polis/'))
        .map((d) => d.slice('@polis/'.length))
        .sort();
      expect(listed, `${pkg}/package.json vs ARCHITECTURE.md`).toEqual([...(graph.get(pkg) ?? [])].sort());
    });
  }

  it('behavior: the import scanner sees static, re-export and dynamic imports', () => {
    const src = `import a from '@polis/x';\nexport { b } from "./b.js";\nconst c = await import('@polis/y');\nimport 'side';`;
    expect(importsOf(src)).toEqual(['@polis/x', './b.js', '@polis/y', 'side']);
  });
});
