/**
 * Creating nodes and networks on disk: `initNode` writes a node's encrypted key and configuration,
 * `writeGenesis` writes the genesis that lists the validators and ledgers. The CLI's
 * `polis node init`, `polis network genesis` and `polis dev` are thin wrappers around these.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import {
  bytesToHex,
  createEd25519Signer,
  encryptKeystore,
  generateEd25519Seed,
  keccak256,
  privateKeyToAddress,
  SCRYPT_N_LIGHT,
  SCRYPT_N_STANDARD,
  toChecksumAddress,
  utf8ToBytes,
} from '@polis/core';
import { ConfigError, ConfigErrorCode, type Genesis, GenesisSchema, NodeConfigSchema, type SystemGenesis } from './config.js';
import { AccessFileSchema, createApiKey, readAccessFile, type Scope, writeAccessFile } from './gateway/access.js';

/** Files of an initialised node directory. */
export const NODE_FILES = {
  key: 'node-key.json',
  config: 'config.json',
  identity: 'identity.json',
  genesis: 'genesis.json',
  access: 'access.json',
};

/** The public identity of a node, written beside its key so that genesis can be built without the password. */
export type NodeIdentity = { name: string; publicKey: string; addrs?: string[]; region?: string };

/** Options of `initNode`. */
export type InitNodeOptions = {
  dir: string;
  name: string;
  password: string;
  rpcPort: number;
  rpcHost?: string;
  /** The libp2p port; 0 picks a free one at start (then peers cannot dial this node). */
  p2pPort?: number;
  /** Dev and test networks: enable the controls the e2e runner uses. */
  testControls?: boolean;
  /** Cheap key encryption for throw-away dev networks. */
  lightKdf?: boolean;
  /**
   * The access file (plans and API keys) the node's gateway reads; nodes of one network share it.
   * Default: `access.json` in the node directory, created empty (no key is valid until one is added).
   */
  accessFile?: string;
  /** Dev and test networks: let webhooks call receivers on loopback and private addresses. */
  allowPrivateWebhooks?: boolean;
  /** Key trust mode: the file holding the master key that seals custodial keys (see `writeMasterKey`). */
  masterKeyFile?: string;
};

/** Creates a node directory: an Ed25519 key encrypted at rest, its identity and its configuration. */
export function initNode(options: InitNodeOptions): NodeIdentity {
  const { dir, name } = options;
  mkdirSync(dir, { recursive: true });
  const keyPath = join(dir, NODE_FILES.key);
  if (existsSync(keyPath)) {
    throw new ConfigError({ code: ConfigErrorCode.INVALID, path: keyPath, issues: ['exists'] }, `${keyPath} already exists`, {
      hint: 'Choose an empty directory; polis never overwrites a node key',
    });
  }
  const seed = generateEd25519Seed();
  const keystore = encryptKeystore(seed, options.password, {
    keyType: 'ed25519',
    scryptN: options.lightKdf ? SCRYPT_N_LIGHT : SCRYPT_N_STANDARD,
  });
  writeFileSync(keyPath, `${JSON.stringify(keystore, null, 2)}\n`, { flag: 'wx', mode: 0o600 });
  const host = options.rpcHost ?? '127.0.0.1';
  const listen = `/ip4/${host}/tcp/${options.p2pPort ?? 0}`;
  const identity: NodeIdentity = {
    name,
    publicKey: bytesToHex(createEd25519Signer(seed).publicKey),
    addrs: options.p2pPort ? [listen] : [],
  };
  writeFileSync(join(dir, NODE_FILES.identity), `${JSON.stringify(identity, null, 2)}\n`);
  const config = NodeConfigSchema.parse({
    name,
    dataDir: 'data',
    keyFile: NODE_FILES.key,
    genesisFile: NODE_FILES.genesis,
    rpc: { host, port: options.rpcPort },
    p2p: { listen },
    testControls: options.testControls ?? false,
    gateway: {
      accessFile: options.accessFile ?? NODE_FILES.access,
      ...(options.allowPrivateWebhooks ? { webhooks: { allowPrivateTargets: true } } : {}),
      ...(options.masterKeyFile ? { masterKeyFile: options.masterKeyFile } : {}),
    },
  });
  writeFileSync(join(dir, NODE_FILES.config), `${JSON.stringify(config, null, 2)}\n`);
  const accessPath = options.accessFile ?? join(dir, NODE_FILES.access);
  if (!existsSync(accessPath)) writeAccessFile(accessPath, AccessFileSchema.parse({}));
  return identity;
}

/** Reads the identity a node directory holds. */
export function readIdentity(dir: string): NodeIdentity {
  const path = join(dir, NODE_FILES.identity);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as NodeIdentity;
  } catch (cause) {
    throw new ConfigError({ code: ConfigErrorCode.UNREADABLE, path }, `cannot read ${path}`, {
      hint: 'Run `polis node init` for that directory first',
      cause,
    });
  }
}

/** A ledger to put in the genesis. */
export type GenesisLedger = {
  id: string;
  chainId: number;
  accessPolicy?: 'open' | 'allowlist';
  allowlist?: string[];
  /** Genesis balances in wei. */
  alloc?: { address: string; balance: bigint }[];
  /** The app's owner (an admin of its identity service). */
  owner?: string;
  /** The block gas limit (the genesis default, 30,000,000, when absent). */
  gasLimit?: number;
};

/** What each development account holds at genesis: one million ether, as anvil and Hardhat give theirs. */
export const DEV_ACCOUNT_BALANCE = 10n ** 24n;

/** The genesis balances of the development accounts 0..n-1. */
export function devAlloc(n = 10): { address: string; balance: bigint }[] {
  return Array.from({ length: n }, (_, i) => ({ address: devAccount(i).address, balance: DEV_ACCOUNT_BALANCE }));
}

/** Builds and validates a genesis where every listed node validates every listed ledger. */
export function buildGenesis(options: {
  validators: NodeIdentity[];
  /** Admitted nodes that validate nothing: they follow the ledgers and serve reads. */
  observers?: NodeIdentity[];
  ledgers: GenesisLedger[];
  genesisTime?: number;
  consensus?: Partial<Genesis['consensus']>;
  /** A system ledger validated by `validators` (ADR 0006). */
  system?: Omit<SystemGenesis, 'validators' | 'autoApproveApps'> & { autoApproveApps?: boolean };
}): Genesis {
  return GenesisSchema.parse({
    genesisTime: options.genesisTime ?? Date.now(),
    nodes: [...options.validators, ...(options.observers ?? [])].map((n) => ({
      name: n.name,
      publicKey: n.publicKey,
      addrs: n.addrs ?? [],
      ...(n.region ? { region: n.region } : {}),
    })),
    ledgers: options.ledgers.map((l) => ({
      id: l.id,
      chainId: l.chainId,
      validators: options.validators.map((v) => ({ name: v.name, publicKey: v.publicKey, power: 1 })),
      accessPolicy: l.accessPolicy ?? 'open',
      allowlist: l.allowlist ?? [],
      alloc: (l.alloc ?? []).map((a) => ({ address: a.address, balance: a.balance.toString() })),
      ...(l.owner ? { owner: l.owner.toLowerCase() } : {}),
      ...(l.gasLimit === undefined ? {} : { gasLimit: l.gasLimit }),
    })),
    ...(options.system
      ? {
          system: {
            ...options.system,
            validators: options.validators.map((v) => v.publicKey),
            autoApproveApps: options.system.autoApproveApps ?? false,
          },
        }
      : {}),
    ...(options.consensus ? { consensus: consensusOf(options.consensus) } : {}),
  });
}

/**
 * The defaults overlaid with `given`. A heartbeat given without a slowest idle heartbeat keeps
 * its pace: tests and dev networks that set a fast heartbeat rely on it.
 */
function consensusOf(given: Partial<Genesis['consensus']>): Genesis['consensus'] {
  const { idleHeartbeatMaxMs: defaultIdleMax, ...defaults } = GenesisSchema.shape.consensus.parse(undefined);
  const keepsPace = given.heartbeatMs !== undefined && given.idleHeartbeatMaxMs === undefined;
  return { ...defaults, ...(keepsPace || defaultIdleMax === undefined ? {} : { idleHeartbeatMaxMs: defaultIdleMax }), ...given };
}

/** Writes a genesis file. */
export function writeGenesis(path: string, genesis: Genesis): void {
  writeFileSync(path, `${JSON.stringify(genesis, null, 2)}\n`);
}

/** A deterministic development account: anyone can derive it, so it is for dev networks only. */
export function devAccount(index: number): { address: string; privateKey: string } {
  const privateKey = keccak256(utf8ToBytes(`polis dev account ${index}`));
  return { address: toChecksumAddress(privateKeyToAddress(privateKey)), privateKey: bytesToHex(privateKey) };
}

/**
 * Ports that were free a moment ago, for listeners that bind later (a dev network's p2p ports are
 * written into its configs before its nodes start). They are drawn at random from below the
 * kernel's ephemeral range: a port from `listen(0)` comes from that range, which is also where
 * every outgoing connection takes its local port, so another process's connection could take it
 * before our node binds it (a node of a test network once failed to listen that way). Below the
 * range, only another explicit bind to the same number can take it.
 */
export async function freePorts(n: number): Promise<number[]> {
  const low = FREE_PORT_LOW;
  const high = ephemeralLow() - 1;
  const ports = new Set<number>();
  for (let attempt = 0; ports.size < n && attempt < 50 * n && high > low; attempt++) {
    const port = low + randomInt(high - low + 1);
    if (!ports.has(port) && (await canListen(port))) ports.add(port);
  }
  // A machine whose ephemeral range starts very low: fall back to ports the kernel picks.
  while (ports.size < n) ports.add(await kernelPort());
  return [...ports];
}

/** The lowest port `freePorts` draws from: above the well-known and common service ports. */
const FREE_PORT_LOW = 20_000;

/** The first port of the kernel's ephemeral range (Linux; 32768 elsewhere, which is Linux's default). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });
}

function kernelPort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => done(port));
    });
  });
}

/** Writes a new random master key (32 bytes, hex) for key trust mode, readable by its owner only. */
export function writeMasterKey(path: string): void {
  writeFileSync(path, `${randomBytes(32).toString('hex')}\n`, { flag: 'wx', mode: 0o600 });
}

/** An app and the key to make for it, for `grantAppKey`. */
export type AppGrant = { appId: string; plan: string; scopes: Scope[]; label?: string };

/**
 * Sets an app's plan in an access file and adds a new key for it (creating the file if needed);
 * returns the key, which exists nowhere else: the file keeps only its salted hash.
 */
export function grantAppKey(accessFile: string, grant: AppGrant): string {
  const file = existsSync(accessFile) ? readAccessFile(accessFile) : AccessFileSchema.parse({});
  if (!(grant.plan in file.plans)) {
    throw new ConfigError(
      { code: ConfigErrorCode.INVALID, path: accessFile, issues: [`plan: ${grant.plan}`] },
      `there is no plan "${grant.plan}" in ${accessFile}`,
      { hint: `Use one of: ${Object.keys(file.plans).join(', ')}` },
    );
  }
  const { key, record } = createApiKey({ appId: grant.appId, scopes: grant.scopes, label: grant.label ?? '' });
  file.apps[grant.appId] = { plan: grant.plan };
  file.keys.push(record);
  writeAccessFile(accessFile, file);
  return key;
}
