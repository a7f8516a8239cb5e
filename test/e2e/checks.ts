/**
 * The check stage: properties of the network read from outside, over JSON-RPC only. Each check
 * returns failures as sentences naming the node, the height or the transaction; it never throws
 * for a failed property, so one run reports every broken property at once.
 */
import { Contract, JsonRpcProvider, Network } from 'ethers';
import type { Erc20Load, TxRecord } from './load.js';
import type { NodeProcess } from './processes.js';
import { type BlockSummary, blocksOf, headOf, rpcBatch, sleep } from './rpc.js';

/** Failures a check reports at most (the rest are counted). */
const FAILURES_MAX = 10;

function capped(failures: string[], what: string): string[] {
  if (failures.length <= FAILURES_MAX) return failures;
  return [...failures.slice(0, FAILURES_MAX), `... and ${failures.length - FAILURES_MAX} more ${what}`];
}

/** Every node has the same block hash and state root at every height up to the lowest head, and the hashes chain. */
export async function checkBlocks(nodes: NodeProcess[]): Promise<{ commonHead: number; failures: string[] }> {
  const heads = await Promise.all(nodes.map((n) => headOf(n.rpcUrl)));
  const commonHead = Math.min(...heads);
  const chains = await Promise.all(nodes.map((n) => blocksOf(n.rpcUrl, 0, commonHead)));
  const reference = chains[0] as BlockSummary[];
  const refName = (nodes[0] as NodeProcess).spec.name;
  const failures: string[] = [];
  for (let h = 0; h <= commonHead; h++) {
    const ref = reference[h] as BlockSummary;
    if (h > 0 && ref.parentHash !== reference[h - 1]?.hash)
      failures.push(`${refName}: block ${h}'s parentHash ${ref.parentHash} is not block ${h - 1}'s hash`);
    for (const [i, chain] of chains.entries()) {
      if (i === 0) continue;
      const b = chain[h] as BlockSummary;
      const name = (nodes[i] as NodeProcess).spec.name;
      if (b.hash !== ref.hash) failures.push(`height ${h}: ${name} has block ${b.hash}, ${refName} has ${ref.hash}`);
      if (b.stateRoot !== ref.stateRoot)
        failures.push(`height ${h}: ${name} has stateRoot ${b.stateRoot}, ${refName} has ${ref.stateRoot}`);
    }
  }
  return { commonHead, failures: capped(failures, 'block mismatches') };
}

/**
 * Every transaction the load saw a receipt for is on every node, in the same block, with the same
 * status; and every transaction the load sent got a receipt (none was lost).
 */
export async function checkReceipts(nodes: NodeProcess[], records: TxRecord[]): Promise<{ checked: number; failures: string[] }> {
  const failures: string[] = [];
  for (const r of records) {
    if (r.refusal !== undefined) continue; // reported as a rejection by the load
    if (!r.receipt)
      failures.push(
        `${r.kind} ${r.hash} (sender ${r.sender}, nonce ${r.nonce}) got no receipt; sent ${r.sends} times, accepted by nodes [${r.acceptedBy.join(', ')}]`,
      );
  }
  const seen = records.filter((r) => r.receipt);
  type Receipt = { blockNumber: string; blockHash: string; status: string } | null;
  await Promise.all(
    nodes.map(async (n) => {
      const answers = await rpcBatch<Receipt>(
        n.rpcUrl,
        seen.map((r) => ['eth_getTransactionReceipt', [r.hash]] as const),
        15_000,
      );
      answers.forEach((a, i) => {
        const r = seen[i] as TxRecord;
        const want = r.receipt as NonNullable<TxRecord['receipt']>;
        if (!a) failures.push(`${n.spec.name} has no receipt for ${r.kind} ${r.hash} (in block ${want.blockNumber} elsewhere)`);
        else if (Number(a.blockNumber) !== want.blockNumber || a.blockHash !== want.blockHash || Number(a.status) !== want.status)
          failures.push(
            `${n.spec.name}: ${r.hash} is in block ${Number(a.blockNumber)} ${a.blockHash} with status ${a.status}; it was seen in block ${want.blockNumber} ${want.blockHash} with status ${want.status}`,
          );
      });
    }),
  );
  return { checked: seen.length * nodes.length, failures: capped(failures, 'receipt failures') };
}

/** Every node's token balances (through `balanceOf` calls) and total supply equal what the receipts imply. */
export async function checkBalances(nodes: NodeProcess[], load: Erc20Load, chainId: number): Promise<string[]> {
  const expected = load.expectedBalances();
  const network = new Network('polis-e2e', chainId);
  const failures: string[] = [];
  let sum = 0n;
  for (const v of expected.values()) sum += v;
  await Promise.all(
    nodes.map(async (n) => {
      const provider = new JsonRpcProvider(n.rpcUrl, network, { staticNetwork: network, cacheTimeout: -1 });
      try {
        const token = new Contract(load.token, load.iface, provider);
        const [supply, ...balances] = (await Promise.all([
          token.getFunction('totalSupply')(),
          ...[...expected.keys()].map((a) => token.getFunction('balanceOf')(a)),
        ])) as bigint[];
        if (supply !== sum) failures.push(`${n.spec.name}: totalSupply is ${supply}, the balances add up to ${sum}`);
        [...expected.entries()].forEach(([address, want], i) => {
          if (balances[i] !== want) failures.push(`${n.spec.name}: balanceOf(${address}) is ${balances[i]}, expected ${want}`);
        });
      } finally {
        provider.destroy();
      }
    }),
  );
  return capped(failures, 'balance mismatches');
}

/** Every node's head advances by at least `blocks` within `timeoutMs`. */
export async function checkProgress(nodes: NodeProcess[], blocks: number, timeoutMs: number): Promise<string[]> {
  const start = await Promise.all(nodes.map((n) => headOf(n.rpcUrl)));
  const deadline = performance.now() + timeoutMs;
  const now = [...start];
  while (performance.now() < deadline) {
    await sleep(100);
    const heads = await Promise.all(nodes.map((n) => headOf(n.rpcUrl).catch(() => -1)));
    heads.forEach((h, i) => {
      now[i] = Math.max(now[i] as number, h);
    });
    if (now.every((h, i) => h >= (start[i] as number) + blocks)) return [];
  }
  return nodes.flatMap((n, i) =>
    (now[i] as number) >= (start[i] as number) + blocks
      ? []
      : [
          `${n.spec.name} went from height ${start[i]} to ${now[i]} in ${timeoutMs} ms after the perturbations; expected +${blocks}`,
        ],
  );
}
