/**
 * A single-validator node started in-process for the client tests: a node directory in a
 * temporary directory (initNode + buildGenesis + writeGenesis), served on 127.0.0.1 port 0.
 * `restart` closes the node and starts it again on the same directory, as a crash-free restart.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Logger, pino } from 'pino';
import {
  buildGenesis,
  devAccount,
  devAlloc,
  grantAppKey,
  initNode,
  NODE_FILES,
  type RunningNode,
  startNode,
  writeGenesis,
} from '../src/index.js';

/** The test ledger. */
export const TEST_APP = { id: 'demo', chainId: 31337 } as const;

/** Options of `startDevNode`. */
export type DevNodeOptions = {
  /** An idle ledger makes an empty block this often; short, so that tests never wait long for one. */
  heartbeatMs?: number;
  /** The state commitment the node is configured with (the config default when omitted). */
  commitment?: 'mpt' | 'smt';
  /** Changes to the node's gateway configuration (config.json `gateway`). */
  gateway?: Record<string, unknown>;
  /** Key trust mode: a fresh master key in the node's directory (`gateway.masterKeyFile`). */
  keyTrust?: boolean;
  /** More ledgers beside the test app. */
  moreLedgers?: { id: string; chainId: number }[];
  /** The test app's plan (default `dedicated`, so that limits never slow a test down). */
  plan?: string;
  /** The node's logger (default: silent unless POLIS_TEST_LOG is set). */
  logger?: Logger;
  /** A system ledger on this node (the node is its only validator). */
  system?: Parameters<typeof buildGenesis>[0]['system'];
};

/** A running test node and its directory. */
export type DevNode = {
  /** The JSON-RPC endpoint of the test ledger with `apiKey`; it changes on `restart` (port 0). */
  readonly rpcUrl: string;
  /** The base URL of the gateway. */
  readonly baseUrl: string;
  /** An admin key (read, write, usage) of the test app. */
  readonly apiKey: string;
  /** The node's access file: add keys with `grantAppKey`, revoke by editing it. */
  readonly accessFile: string;
  readonly node: RunningNode;
  readonly dir: string;
  readonly chainId: number;
  /** The deterministic dev accounts 0..9, each holding DEV_ACCOUNT_BALANCE at genesis. */
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
  let apiKey = '';
  try {
    const identity = initNode({ dir, name: 'node-0', password: PASSWORD, rpcPort: 0, lightKdf: true });
    const configPath = join(dir, NODE_FILES.config);
    const config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown> & {
      gateway: Record<string, unknown>;
    };
    const keyTrust: Record<string, unknown> = {};
    if (options.keyTrust) {
      keyTrust.masterKeyFile = join(dir, 'master.key');
      writeFileSync(keyTrust.masterKeyFile as string, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    }
    writeFileSync(
      configPath,
      JSON.stringify({
        ...config,
        ...(options.commitment ? { commitment: options.commitment } : {}),
        gateway: { ...config.gateway, ...keyTrust, ...(options.gateway ?? {}) },
      }),
    );
    apiKey = grantAppKey(join(dir, NODE_FILES.access), {
      appId: TEST_APP.id,
      plan: options.plan ?? 'dedicated',
      scopes: ['admin'],
      label: 'test',
    });
    const genesis = buildGenesis({
      validators: [identity],
      ledgers: [TEST_APP, ...(options.moreLedgers ?? [])].map((l) => ({ ...l, alloc: devAlloc(), owner: devAccount(0).address })),
      consensus: { heartbeatMs: options.heartbeatMs ?? 250 },
      ...(options.system ? { system: options.system } : {}),
    });
    writeGenesis(join(dir, NODE_FILES.genesis), genesis);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  // Logs stay quiet unless asked for: POLIS_TEST_LOG=debug npx vitest run packages/node
  const logger = options.logger ?? pino({ level: process.env.POLIS_TEST_LOG ?? 'silent' });
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
      return node.rpcUrl(TEST_APP.id, apiKey);
    },
    get baseUrl() {
      return node.rpcBase;
    },
    apiKey,
    accessFile: join(dir, NODE_FILES.access),
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

/** Calls a JSON-RPC method at `url` and returns its result; an error answer throws with its message. */
export async function rpcCall<T>(url: string, method: string, params: unknown[] = []): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = (await res.json()) as { result?: T; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result as T;
}

// biome-ignore lint/suspicious/noExplicitAny: REST answers are read field by field and checked by the assertions
export type Json = any;

/** A REST call on the test app (`/api/v1/apps/demo<path>`) with the node's admin key. */
export async function restCall(
  dev: DevNode,
  path: string,
  init: { method?: string; body?: unknown; key?: string } = {},
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${dev.baseUrl}/api/v1/apps/${TEST_APP.id}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${init.key ?? dev.apiKey}`, 'content-type': 'application/json' },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  return { status: res.status, body: await res.json() };
}

/** A new custodial account of the test app (the node must run in key trust mode). */
export async function newCustodialAccount(dev: DevNode): Promise<`0x${string}`> {
  const r = await restCall(dev, '/accounts/custodial', { method: 'POST' });
  if (r.status !== 201) throw new Error(`creating a custodial account answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body.address;
}
