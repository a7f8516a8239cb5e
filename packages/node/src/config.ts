/**
 * Node configuration and genesis files, validated with zod. Every error names the field and
 * says what it should be.
 */
import { readFileSync } from 'node:fs';
import { PolisError } from '@polis/core';
import { z } from 'zod';

/** Codes for configuration errors. */
export enum ConfigErrorCode {
  /** A file is missing or is not JSON. */
  UNREADABLE = 'CONFIG_ERROR_UNREADABLE',
  /** A field is missing or has the wrong type or value. */
  INVALID = 'CONFIG_ERROR_INVALID',
}

/** The payload of a `ConfigError`. */
export type ConfigErrorType =
  | { code: ConfigErrorCode.UNREADABLE; path: string }
  | { code: ConfigErrorCode.INVALID; path: string; issues: string[] };

/** A bad configuration or genesis file. */
export class ConfigError extends PolisError<ConfigErrorType> {
  override name = 'ConfigError';
}

const hex = (bytes?: number) =>
  z.string().regex(bytes === undefined ? /^0x([0-9a-fA-F]{2})*$/ : new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`), {
    message: bytes === undefined ? 'must be 0x-prefixed hex' : `must be 0x-prefixed hex of ${bytes} bytes`,
  });

/** The longest timer Node runs as asked: a longer one fires after 1 ms. */
const TIMER_MS_MAX = 2_147_483_647;

/** One ledger in the genesis. */
export const LedgerGenesisSchema = z.object({
  /** The app id; it names the ledger in URLs and domain-separates its signatures. */
  id: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,62}$/, { message: 'must be lower-case letters, digits and dashes, starting with a letter' }),
  chainId: z
    .number()
    .int()
    .positive()
    .max(2 ** 53 - 1),
  gasLimit: z.number().int().min(1_000_000).max(1_000_000_000).default(30_000_000),
  maxBlockTxs: z.number().int().min(1).max(100_000).default(2_000),
  maxBlockBytes: z
    .number()
    .int()
    .min(1024)
    .max(8 * 1024 * 1024)
    .default(4 * 1024 * 1024),
  validators: z.array(z.object({ name: z.string(), publicKey: hex(32), power: z.number().int().positive().default(1) })).min(1),
  /** `open`: any account may transact; `allowlist`: only the listed ones. */
  accessPolicy: z.enum(['open', 'allowlist']).default('open'),
  allowlist: z.array(hex(20)).default([]),
  /**
   * The app's owner: an admin of its built-in identity service from genesis (it grants roles and
   * sets the account policy). An app from the system ledger has its record's owner.
   */
  owner: hex(20).optional(),
  /** Balances at genesis (wei, as a decimal string). Fees are zero, so only value transfers need them. */
  alloc: z
    .array(
      z.object({ address: hex(20), balance: z.string().regex(/^[0-9]{1,78}$/, { message: 'must be a decimal number of wei' }) }),
    )
    .default([]),
});

/** A node admitted to the network: its key and where to reach it. Validators and observers alike. */
export const GenesisNodeSchema = z.object({
  name: z.string().min(1),
  publicKey: hex(32),
  /** libp2p multiaddrs, e.g. /ip4/127.0.0.1/tcp/26656. */
  addrs: z.array(z.string().regex(/^\//, { message: 'must be a multiaddr such as /ip4/127.0.0.1/tcp/26656' })).default([]),
  /** Where the node runs, as people name it (e.g. "eu-west, Paris"); shown when developers pick nodes. */
  region: z.string().max(64).optional(),
});

/**
 * The system ledger (ADR 0006): the alliance that governs the network and the governance nodes
 * that validate it. Nodes, plans and the policy start from here; apps come through governance.
 */
export const SystemGenesisSchema = z.object({
  /** Its chain id; different from every app's. */
  chainId: z
    .number()
    .int()
    .positive()
    .max(2 ** 53 - 1),
  /** The alliance admins' Ethereum addresses. */
  admins: z.array(hex(20)).min(1),
  /** k of the k-of-n approvals an action needs. */
  threshold: z.number().int().min(1),
  /** The governance nodes (public keys of `nodes`) that validate the system ledger. */
  validators: z.array(hex(32)).min(1),
  /** The operator address recorded for the genesis nodes. */
  operator: hex(20),
  /** Dev networks: app requests are approved without a vote. */
  autoApproveApps: z.boolean().default(false),
  plans: z
    .record(
      z.string(),
      z.object({
        requestsPerSec: z.number().int().positive(),
        txPerSec: z.number().int().positive(),
        bytesInPerSec: z.number().int().positive(),
        bytesOutPerSec: z.number().int().positive(),
      }),
    )
    .optional(),
});

/** The genesis: the admitted nodes, the ledgers and their consensus parameters. */
export const GenesisSchema = z
  .object({
    genesisTime: z.number().int().nonnegative(),
    /** The nodes admitted to the p2p network (the system-ledger work replaces this list). Every validator must be one. */
    nodes: z.array(GenesisNodeSchema).default([]),
    ledgers: z.array(LedgerGenesisSchema).default([]),
    /** The system ledger, when this network is governed on one. */
    system: SystemGenesisSchema.optional(),
    consensus: z
      .object({
        proposeMs: z.number().int().positive().max(TIMER_MS_MAX).default(3000),
        proposeDeltaMs: z.number().int().nonnegative().max(TIMER_MS_MAX).default(500),
        prevoteMs: z.number().int().positive().max(TIMER_MS_MAX).default(1000),
        prevoteDeltaMs: z.number().int().nonnegative().max(TIMER_MS_MAX).default(500),
        precommitMs: z.number().int().positive().max(TIMER_MS_MAX).default(1000),
        precommitDeltaMs: z.number().int().nonnegative().max(TIMER_MS_MAX).default(500),
        heartbeatMs: z.number().int().positive().max(TIMER_MS_MAX).default(10_000),
        /**
         * The slowest heartbeat of an idle ledger: each height that begins with nothing to do
         * doubles the wait for the next, up to this; a transaction restores `heartbeatMs`. Absent:
         * the heartbeat keeps its pace. A network made without a consensus section gets 60 s.
         */
        idleHeartbeatMaxMs: z.number().int().positive().max(TIMER_MS_MAX).optional(),
        gossipMs: z.number().int().positive().max(TIMER_MS_MAX).default(500),
      })
      .default({
        proposeMs: 3000,
        proposeDeltaMs: 500,
        prevoteMs: 1000,
        prevoteDeltaMs: 500,
        precommitMs: 1000,
        precommitDeltaMs: 500,
        heartbeatMs: 10_000,
        idleHeartbeatMaxMs: 60_000,
        gossipMs: 500,
      }),
  })
  .refine((g) => g.ledgers.length > 0 || g.system !== undefined, {
    message: 'a genesis needs at least one ledger, or a system ledger',
    path: ['ledgers'],
  });

const limitsSchema = z.object({
  requestsPerSec: z.number().positive(),
  txPerSec: z.number().positive(),
  bytesInPerSec: z.number().positive(),
  bytesOutPerSec: z.number().positive(),
});

/** The default limits of `POST /v1/system`, which takes no API key. */
export const SYSTEM_LIMITS_DEFAULT = {
  perClient: { requestsPerSec: 100, txPerSec: 10, bytesInPerSec: 1_000_000, bytesOutPerSec: 10_000_000 },
  total: { requestsPerSec: 2_000, txPerSec: 200, bytesInPerSec: 20_000_000, bytesOutPerSec: 200_000_000 },
};

/** The gateway: API access, limits on requests, TLS, webhooks and custodial keys. */
export const GatewayConfigSchema = z.object({
  /**
   * Limits of the system ledger's endpoint (`POST /v1/system`), per client IP address and for all
   * clients together; `gov_sendTransaction` calls count as transactions.
   */
  systemLimits: z.object({ perClient: limitsSchema, total: limitsSchema }).default(SYSTEM_LIMITS_DEFAULT),
  /** How often the audit log's head is anchored on the system ledger (ADR 0008): every N entries, or after this long. */
  audit: z
    .object({
      anchorEvery: z.number().int().min(1).max(1_000_000).default(1_000),
      anchorIntervalMs: z.number().int().min(1_000).max(86_400_000).default(60_000),
    })
    .default({ anchorEvery: 1_000, anchorIntervalMs: 60_000 }),
  /**
   * Plans, app plans and API-key hashes (gateway/access.ts). It stands in for the system ledger's
   * registries until that lands; every node of a network reads the same records.
   */
  accessFile: z.string().min(1).default('access.json'),
  /** How often the access file is checked for changes: revocations take effect within this. */
  reloadMs: z.number().int().min(50).max(60_000).default(1_000),
  /** TLS certificate and key (PEM files). Without them the gateway speaks plain HTTP. */
  tls: z.object({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
  /** Serve HTTP/2 (with HTTP/1.1 for clients that need it, and for WebSocket). Needs `tls`. */
  http2: z.boolean().default(false),
  bodyLimitBytes: z
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(5 * 1024 * 1024),
  /** Nesting of arrays and objects a request body may have. */
  jsonDepthMax: z.number().int().min(4).max(1000).default(64),
  batchMax: z.number().int().min(1).max(10_000).default(1_000),
  /** Time any one call into a ledger may take before the caller gets an error. */
  requestTimeoutMs: z.number().int().min(100).max(600_000).default(30_000),
  /** Key trust mode: the file holding the 32-byte master key (hex) that encrypts custodial keys. */
  masterKeyFile: z.string().min(1).optional(),
  webhooks: z
    .object({
      /** The first retry waits this long; each next one twice as long. */
      retryBaseMs: z.number().int().min(10).max(3_600_000).default(1_000),
      retryMaxMs: z.number().int().min(10).max(86_400_000).default(3_600_000),
      /** Tries before a delivery is given up (kept as failed). */
      maxAttempts: z.number().int().min(5).max(100).default(10),
      /** Time a receiver has to answer. */
      timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
      /**
       * Let webhooks call loopback and private addresses. Off by default, so that an app owner
       * cannot point the gateway at its own network; dev and test networks turn it on.
       */
      allowPrivateTargets: z.boolean().default(false),
    })
    .default({ retryBaseMs: 1_000, retryMaxMs: 3_600_000, maxAttempts: 10, timeoutMs: 10_000, allowPrivateTargets: false }),
});

/** A node's own configuration. Relative paths are relative to the config file. */
export const NodeConfigSchema = z.object({
  name: z.string().min(1),
  dataDir: z.string().min(1),
  keyFile: z.string().min(1),
  genesisFile: z.string().min(1),
  rpc: z.object({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65535) }),
  /** The libp2p listen address; port 0 picks a free one (only useful for a node nobody dials). */
  p2p: z
    .object({ listen: z.string().regex(/^\//, { message: 'must be a multiaddr such as /ip4/127.0.0.1/tcp/26656' }) })
    .default({ listen: '/ip4/127.0.0.1/tcp/0' }),
  /** Dev and test networks only: lets the e2e runner cut this node off from chosen peers. */
  testControls: z.boolean().default(false),
  // ADR 0003: the sparse Merkle tree, measured about twice as fast as the MPT under ERC-20 load.
  commitment: z.enum(['mpt', 'smt']).default('smt'),
  gateway: GatewayConfigSchema.default(GatewayConfigSchema.parse({})),
});

export type Genesis = z.infer<typeof GenesisSchema>;
export type LedgerGenesis = z.infer<typeof LedgerGenesisSchema>;
export type NodeConfig = z.infer<typeof NodeConfigSchema>;
export type GenesisNode = z.infer<typeof GenesisNodeSchema>;
export type GatewayConfig = z.infer<typeof GatewayConfigSchema>;
export type SystemGenesis = z.infer<typeof SystemGenesisSchema>;

/** Reads and validates a JSON file against `schema`. */
export function readJsonFile<T>(path: string, schema: z.ZodType<T>, what: string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new ConfigError({ code: ConfigErrorCode.UNREADABLE, path }, `cannot read the ${what} ${path}`, {
      hint: 'Check that the file exists and is valid JSON',
      cause,
    });
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(
      { code: ConfigErrorCode.INVALID, path, issues },
      `the ${what} ${path} is invalid: ${issues.join('; ')}`,
      {
        hint: `Fix the listed fields; \`polis --help\` shows the commands that write a valid ${what}`,
      },
    );
  }
  return parsed.data;
}
