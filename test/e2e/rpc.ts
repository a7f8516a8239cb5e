/**
 * A minimal JSON-RPC 2.0 client over HTTP for the runner's checks and watchers. Every request has
 * a deadline: a SIGSTOPped node accepts TCP connections (the kernel does) but never answers.
 */

/** A JSON-RPC error answer, kept apart from transport failures so callers can tell them apart. */
export class RPCAnswerError extends Error {
  override name = 'RPCAnswerError';
  constructor(
    readonly code: number,
    readonly rpcMessage: string,
    readonly method: string,
  ) {
    super(`${method}: JSON-RPC error ${code}: ${rpcMessage}`);
  }
}

type Answer = { id: number; result?: unknown; error?: { code: number; message: string } };

/** Requests one batch can carry; the node's limit is 1000. */
export const RPC_BATCH_MAX = 200;
/** The default deadline of one HTTP request. */
export const RPC_TIMEOUT_MS = 3_000;

async function post(url: string, body: unknown, timeoutMs: number): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) throw new Error(`POST ${url}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

/** Calls one method and returns its result; throws `RPCAnswerError` for an error answer. */
export async function rpcCall<T>(url: string, method: string, params: unknown[] = [], timeoutMs = RPC_TIMEOUT_MS): Promise<T> {
  const answer = (await post(url, { jsonrpc: '2.0', id: 1, method, params }, timeoutMs)) as Answer;
  if (answer.error) throw new RPCAnswerError(answer.error.code, answer.error.message, method);
  return answer.result as T;
}

/** Calls many methods in batches of `RPC_BATCH_MAX`; results come back in request order. */
export async function rpcBatch<T>(
  url: string,
  calls: ReadonlyArray<readonly [method: string, params: unknown[]]>,
  timeoutMs = RPC_TIMEOUT_MS,
): Promise<T[]> {
  const out: T[] = [];
  for (let start = 0; start < calls.length; start += RPC_BATCH_MAX) {
    const chunk = calls.slice(start, start + RPC_BATCH_MAX);
    const answers = (await post(
      url,
      chunk.map(([method, params], i) => ({ jsonrpc: '2.0', id: i, method, params })),
      timeoutMs,
    )) as Answer[];
    const byId = new Map(answers.map((a) => [a.id, a]));
    chunk.forEach(([method], i) => {
      const a = byId.get(i);
      if (!a) throw new Error(`${method}: no answer in the batch`);
      if (a.error) throw new RPCAnswerError(a.error.code, a.error.message, method);
      out.push(a.result as T);
    });
  }
  return out;
}

/** `0x`-quantity of a number. */
export function toQuantity(n: number | bigint): string {
  return `0x${n.toString(16)}`;
}

/** The height `eth_blockNumber` reports. */
export async function headOf(url: string, timeoutMs = RPC_TIMEOUT_MS): Promise<number> {
  return Number(await rpcCall<string>(url, 'eth_blockNumber', [], timeoutMs));
}

/** The fields of a block the checks compare. */
export type BlockSummary = { number: number; hash: string; parentHash: string; stateRoot: string; miner: string };

/** Reads blocks `from..to` (inclusive) in batches; a missing block is an error. */
export async function blocksOf(url: string, from: number, to: number): Promise<BlockSummary[]> {
  const calls: Array<readonly [string, unknown[]]> = [];
  for (let h = from; h <= to; h++) calls.push(['eth_getBlockByNumber', [toQuantity(h), false]] as const);
  const blocks = await rpcBatch<{ number: string; hash: string; parentHash: string; stateRoot: string; miner: string } | null>(
    url,
    calls,
    15_000,
  );
  return blocks.map((b, i) => {
    if (!b) throw new Error(`${url}: block ${from + i} is missing`);
    return { number: Number(b.number), hash: b.hash, parentHash: b.parentHash, stateRoot: b.stateRoot, miner: b.miner };
  });
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}
