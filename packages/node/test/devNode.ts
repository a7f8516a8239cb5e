/**
 * A single-validator node started in-process for the client tests: a node directory in a
 * temporary directory (initNode + buildGenesis + writeGenesis), served on 127.0.0.1 port 0.
 * `restart` closes the node and starts it again on the same directory, as a crash-free restart.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { buildGenesis, devAccount, initNode, NODE_FILES, type RunningNode, startNode, writeGenesis } from '../src/index.js';

/** The test ledger. */
export const TEST_APP = { id: 'demo', chainId: 31337 } as const;

/** Options of `startDevNode`. */
export type DevNodeOptions = {
  /** An idle ledger makes an empty block this often; short, so that tests never wait long for one. */
  heartbeatMs?: number;
  /** The state commitment the node is configured with (the config default when omitted). */
  commitment?: 'mpt' | 'smt';
};

/** A running test node and its directory. */
export type DevNode = {
  /** The JSON-RPC endpoint of the test ledger; it changes on `restart` (port 0). */
  readonly rpcUrl: string;
  readonly node: RunningNode;
  readonly dir: string;
  readonly chainId: number;
  /** The deterministic dev accounts 0..9. */
  readonly accounts: { address: `0x${string}`; privateKey: `0x${string}` }[];
  /** Closes the node and starts it again on the same directory. */
  restart(): Promise<void>;
  /** Closes the node and removes its directory. */
  close(): Promise<void>;
};

const PASSWORD = 'polis-test';

/** Creates a node directory in a temporary directory and starts the node. */
export async function startDevNode(options: DevNodeOptions = {}): Promise<DevNode> {
  const dir = mkdtempSync(join(tmpdir(), 'polis-node-test-'));
  try {
    const identity = initNode({ dir, name: 'node-0', password: PASSWORD, rpcPort: 0, lightKdf: true });
    if (options.commitment) {
      const configPath = join(dir, NODE_FILES.config);
      const config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
      writeFileSync(configPath, JSON.stringify({ ...config, commitment: options.commitment }));
    }
    const genesis = buildGenesis({
      validators: [identity],
      ledgers: [TEST_APP],
      consensus: { heartbeatMs: options.heartbeatMs ?? 250 },
    });
    writeGenesis(join(dir, NODE_FILES.genesis), genesis);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  // Logs stay quiet unless asked for: POLIS_TEST_LOG=debug npx vitest run packages/node
  const logger = pino({ level: process.env.POLIS_TEST_LOG ?? 'silent' });
  const start = () => startNode({ configPath: join(dir, NODE_FILES.config), password: PASSWORD, logger });
  let node: RunningNode;
  try {
    node = await start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let closed = false;
  return {
    get rpcUrl() {
      return node.rpcUrl(TEST_APP.id);
    },
    get node() {
      return node;
    },
    dir,
    chainId: TEST_APP.chainId,
    accounts: Array.from({ length: 10 }, (_, i) => devAccount(i) as { address: `0x${string}`; privateKey: `0x${string}` }),
    async restart() {
      await node.close();
      node = await start();
    },
    async close() {
      if (closed) return;
      closed = true;
      await node.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
