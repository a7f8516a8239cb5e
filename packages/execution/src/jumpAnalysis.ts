/**
 * A cache of @ethereumjs/evm's code analysis. Before a contract's first jump, the interpreter
 * scans its whole code for valid jump destinations, decodes every PUSH immediate into a bigint and
 * looks up every opcode: for the test ERC-20 that was half the time of an `eth_call` of
 * `balanceOf` (bench/reads, docs/performance.md). The analysis depends only on the code and on the
 * EVM's opcode table, and the state keeps one immutable `Uint8Array` per code hash
 * (`JournaledStateManager`'s code cache), so it is kept per code object in a `WeakMap`: it lives as
 * long as the code stays cached and needs no bound of its own.
 *
 * The interpreter is not exported by the package, so the method is wrapped on its prototype,
 * found beside the package's entry point. `installJumpAnalysisCache` reports whether it could;
 * a version without the method runs unchanged (and `test/jumpAnalysis.test.ts` fails, so that an
 * upgrade that drops it is noticed).
 */

type Analysis = { jumps: Uint8Array; pushes: Record<number, bigint>; opcodesCached: unknown[] };
type InterpreterLike = { _evm: { _opcodeMap: object }; _getValidJumpDestinations(code: Uint8Array): Analysis };

let installed: Promise<boolean> | undefined;

/** Counts of analyses run and reused since the cache was installed (for tests). */
export const jumpAnalysisStats = { analysed: 0, reused: 0 };

/** Wraps the interpreter's analysis with the cache, once per process; resolves whether it did. */
export function installJumpAnalysisCache(): Promise<boolean> {
  installed ??= install();
  return installed;
}

async function install(): Promise<boolean> {
  const entry = import.meta.resolve('@ethereumjs/evm');
  const module = (await import(new URL('./interpreter.js', entry).href)) as {
    Interpreter?: { prototype: InterpreterLike };
  };
  const proto = module.Interpreter?.prototype;
  const analyse = proto?._getValidJumpDestinations;
  if (!proto || typeof analyse !== 'function') return false;
  const byTable = new WeakMap<object, WeakMap<Uint8Array, Analysis>>();
  proto._getValidJumpDestinations = function cachedAnalysis(this: InterpreterLike, code: Uint8Array): Analysis {
    const table = this._evm._opcodeMap;
    let byCode = byTable.get(table);
    if (!byCode) {
      byCode = new WeakMap();
      byTable.set(table, byCode);
    }
    let analysis = byCode.get(code);
    if (analysis) {
      jumpAnalysisStats.reused++;
      return analysis;
    }
    jumpAnalysisStats.analysed++;
    analysis = analyse.call(this, code);
    byCode.set(code, analysis);
    return analysis;
  };
  return true;
}
