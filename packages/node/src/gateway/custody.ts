/**
 * Key trust mode: the gateway holds an app's secp256k1 account keys and signs for it.
 *
 * Each key is encrypted at rest with the node master key (`gateway.masterKeyFile`, 32 bytes as
 * hex): AES-256-GCM with a random 12-byte nonce per key and the app id and address as additional
 * data, so a sealed key moved to another app or address does not open. The sealed keys live in
 * their own LMDB environment at `<gateway dataDir>/custody`, written durably before an account is
 * reported created. A check value sealed with the master key is stored beside them, so a node
 * started with another master key refuses to start instead of failing at the first signature.
 *
 * Routes (under `/api/v1/apps/{id}`): `POST /accounts/custodial` creates an account owned by the
 * calling key, `GET /accounts/custodial` lists the app's accounts, and `POST /tx` signs and sends
 * a transaction from one of them, then waits like `POST /transactions`. Private keys never leave
 * this module: no route returns one, nothing logs one, and a decrypted key is zeroed after use.
 * Signing is serialized per account, so that concurrent requests get consecutive nonces.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import {
  bytesToHex,
  generateSecp256k1PrivateKey,
  type Hex,
  hexToBytes,
  keccak256,
  privateKeyToAddress,
  secp256k1Sign,
  utf8ToBytes,
} from '@polis/core';
import { type LedgerDatabase, type LedgerTable, openLedgerDatabase } from '@polis/ledger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type Abi, encodeFunctionData, serializeTransaction } from 'viem';
import { z } from 'zod';
import { ConfigError, ConfigErrorCode } from '../config.js';
import { RpcCode, RpcError } from '../rpc/errors.js';
import { quantity } from '../rpc/hex.js';
import { contractDenied, type KeyRecord, methodDenied } from './access.js';
import type { Authorized, GatewayContext, GatewayLedger } from './context.js';
import { type AnyRoute, defineRoute, RestError } from './rest/route.js';
import {
  AddressSchema,
  DecimalSchema,
  fingerprintOf,
  HexDataSchema,
  SubmitAnswerSchema,
  submitAndWait,
  submitRaw,
  WAIT_MS_MAX,
  WaitMsSchema,
} from './rest/submit.js';

/** Custodial accounts one app may hold. */
export const CUSTODIAL_ACCOUNTS_PER_APP_MAX = 1_000;
/** Requests one custodial account may have waiting to be signed; more are refused with 503. */
export const SIGN_QUEUE_PER_ACCOUNT_MAX = 64;
/** ABI items and call arguments a `POST /tx` may carry. */
export const TX_ABI_ITEMS_MAX = 512;
export const TX_ARGS_MAX = 64;
/** Added to a gas estimate, in percent: the state may change between the estimate and the block. */
const GAS_MARGIN_PERCENT = 25n;
/** Bytes of the master key and of an AES-GCM nonce and tag. */
export const MASTER_KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Domain of the additional data, so that a sealed custodial key is never mistaken for anything else. */
const AAD_DOMAIN = 'polis-custody-v1';
const CHECK_KEY = utf8ToBytes('masterCheck');
const TAG = 'custody';

const hexOf = (bytes: number) =>
  z.string().regex(new RegExp(`^0x[0-9a-f]{${bytes * 2}}$`), `must be ${bytes} bytes of lower-case hex`);

/** What the custody store keeps for one account: the sealed key and who owns it. Never the key itself. */
export const CustodialRecordSchema = z.object({
  v: z.literal(1),
  appId: z.string().min(1),
  address: hexOf(20),
  /** The id of the API key that created the account. */
  owner: z.string().regex(/^[0-9a-f]{16}$/),
  createdAt: z.number().int().nonnegative(),
  nonce: hexOf(NONCE_BYTES),
  ciphertext: hexOf(32),
  tag: hexOf(TAG_BYTES),
});
export type CustodialRecord = z.infer<typeof CustodialRecordSchema>;

/** A sealed secret: AES-256-GCM ciphertext with its nonce and tag. */
export type Sealed = { nonce: string; ciphertext: string; tag: string };

function aadOf(appId: string, address: string): Uint8Array {
  return utf8ToBytes(`${AAD_DOMAIN}\0${appId}\0${address.toLowerCase()}`);
}

function seal(master: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Sealed {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', master, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { nonce: bytesToHex(nonce), ciphertext: bytesToHex(ciphertext), tag: bytesToHex(cipher.getAuthTag()) };
}

/** Decrypts a sealed secret; throws when the key, the additional data or the bytes differ from sealing. */
function unseal(master: Uint8Array, aad: Uint8Array, sealed: Sealed): Uint8Array {
  const decipher = createDecipheriv('aes-256-gcm', master, hexToBytes(sealed.nonce), { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(hexToBytes(sealed.tag));
  return new Uint8Array(Buffer.concat([decipher.update(hexToBytes(sealed.ciphertext)), decipher.final()]));
}

/** Encrypts a custodial private key for `appId` and `address` with the master key. */
export function sealPrivateKey(master: Uint8Array, appId: string, address: string, privateKey: Uint8Array): Sealed {
  return seal(master, aadOf(appId, address), privateKey);
}

/**
 * Decrypts a custodial record's private key (the caller zeroes it after use). Throws when the
 * master key is another, or the record was altered or moved to another app or address.
 */
export function openSealedKey(master: Uint8Array, record: CustodialRecord): Uint8Array {
  return unseal(master, aadOf(record.appId, record.address), record);
}

/** Reads a master key file: 32 bytes as hex (64 digits, `0x` optional, surrounding whitespace ignored). */
export function readMasterKey(path: string): Buffer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (cause) {
    throw new ConfigError({ code: ConfigErrorCode.UNREADABLE, path }, `cannot read the master key file ${path}`, {
      hint: 'Check gateway.masterKeyFile in the node config: it must name a readable file holding 32 bytes as hex (openssl rand -hex 32)',
      cause,
    });
  }
  const hex = text.startsWith('0x') ? text.slice(2) : text;
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new ConfigError(
      { code: ConfigErrorCode.INVALID, path, issues: ['masterKeyFile: must hold 32 bytes as 64 hex digits'] },
      `the master key file ${path} does not hold 32 bytes as hex`,
      { hint: 'Write 64 hex digits into it, for example with: openssl rand -hex 32 > master.key' },
    );
  }
  return Buffer.from(hex, 'hex');
}

function recordKey(appId: string, address: Uint8Array): Uint8Array {
  const app = utf8ToBytes(appId);
  const key = new Uint8Array(app.length + 1 + address.length);
  key.set(app, 0);
  key.set(address, app.length + 1);
  return key;
}

/** The key range of one app's records: `appId 0x00 ...` up to `appId 0x01`. */
function appRange(appId: string): [Uint8Array, Uint8Array] {
  const app = utf8ToBytes(appId);
  const start = new Uint8Array(app.length + 1);
  start.set(app, 0);
  const end = start.slice();
  end[app.length] = 1;
  return [start, end];
}

/** Runs tasks one at a time per account, with a bounded queue per account (signing needs consecutive nonces). */
export class SignQueues {
  readonly #queues = new Map<string, { tail: Promise<unknown>; queued: number }>();
  readonly #max: number;

  constructor(max = SIGN_QUEUE_PER_ACCOUNT_MAX) {
    if (!Number.isInteger(max) || max < 1) throw new Error(`the signing queue bound must be a positive integer, got ${max}`);
    this.#max = max;
  }

  /** Accounts with tasks queued or running. */
  get size(): number {
    return this.#queues.size;
  }

  /** Runs `task` after the account's earlier tasks; refuses with 503 when the account has `max` queued. */
  async run<T>(account: string, task: () => Promise<T>): Promise<T> {
    const q = this.#queues.get(account) ?? { tail: Promise.resolve(), queued: 0 };
    if (q.queued >= this.#max) {
      throw new RestError(
        503,
        'TOO_MANY_PENDING',
        `the account ${account} has ${this.#max} transactions waiting to be signed, the most it queues: retry after they are sent`,
      );
    }
    q.queued++;
    this.#queues.set(account, q);
    const run = q.tail.then(task);
    q.tail = run.catch(() => {});
    try {
      return await run;
    } finally {
      q.queued--;
      if (q.queued === 0) this.#queues.delete(account);
    }
  }
}

const AccountInfoSchema = z.object({
  address: AddressSchema,
  owner: z.string().describe('The id of the API key that created the account'),
  createdAt: z.number().int().describe('Milliseconds since the epoch'),
});

const TxBodySchema = z
  .object({
    from: AddressSchema.describe("A custodial account of this app (owned by the calling key, unless it is the app's admin key)"),
    to: AddressSchema.optional().describe('The recipient or contract; omit to deploy `data` as a contract'),
    value: DecimalSchema.optional().describe('Wei to send, decimal (default "0")'),
    gas: DecimalSchema.optional().describe('The gas limit, decimal (default: an estimate plus 25%)'),
    data: HexDataSchema.optional().describe('Call data; or give abi, functionName and args instead'),
    abi: z
      .array(z.record(z.string(), z.unknown()))
      .max(TX_ABI_ITEMS_MAX)
      .optional()
      .describe('The contract ABI (JSON), or the one function of it to call'),
    functionName: z.string().min(1).max(256).optional(),
    args: z
      .array(z.unknown())
      .max(TX_ARGS_MAX)
      .optional()
      .describe('The call arguments; integers as decimal strings, addresses and bytes as 0x-hex'),
    waitMs: WaitMsSchema,
  })
  .superRefine((b, issue) => {
    if (b.data !== undefined && b.abi !== undefined)
      issue.addIssue({ code: 'custom', path: ['data'], message: 'give either data or abi + functionName + args, not both' });
    if (b.abi !== undefined && b.functionName === undefined)
      issue.addIssue({ code: 'custom', path: ['functionName'], message: 'is required with abi' });
    if (b.abi === undefined && (b.functionName !== undefined || b.args !== undefined))
      issue.addIssue({ code: 'custom', path: ['abi'], message: 'is required with functionName and args' });
  });
type TxBody = z.infer<typeof TxBodySchema>;

const DISABLED_MESSAGE =
  "key trust mode is off on this node: set gateway.masterKeyFile in the node's config.json to a file holding 32 random bytes as hex " +
  '(openssl rand -hex 32 > master.key; keep it private and backed up), then restart the node';

/** The part of the custody that exists only with a master key. */
type Vault = { db: LedgerDatabase; keys: LedgerTable; master: Buffer };

/** Custodial keys and their routes; without a master key the routes answer 501 saying how to turn it on. */
export class Custody {
  readonly routes: AnyRoute[];
  readonly #ctx: GatewayContext;
  readonly #vault: Vault | undefined;
  readonly #queues = new SignQueues();

  private constructor(ctx: GatewayContext, vault: Vault | undefined) {
    this.#ctx = ctx;
    this.#vault = vault;
    this.routes = this.#routes();
  }

  /**
   * Opens the custody store when `gateway.masterKeyFile` is set. A relative path is resolved
   * against `options.configDir` (the node's config directory); without it the path must be
   * absolute. Throws `ConfigError` for a missing or malformed master key, or one that is not the
   * key the stored accounts were sealed with.
   */
  static async open(ctx: GatewayContext, options: { configDir?: string } = {}): Promise<Custody> {
    const file = ctx.config.masterKeyFile;
    if (file === undefined) return new Custody(ctx, undefined);
    if (!isAbsolute(file) && options.configDir === undefined) {
      throw new ConfigError(
        { code: ConfigErrorCode.INVALID, path: file, issues: ['gateway.masterKeyFile: must be an absolute path'] },
        `gateway.masterKeyFile "${file}" is a relative path, and the gateway was not told the config directory to resolve it against`,
        { hint: 'Give the master key file as an absolute path' },
      );
    }
    const path = isAbsolute(file) ? file : resolve(options.configDir as string, file);
    const master = readMasterKey(path);
    try {
      if ((statSync(path).mode & 0o077) !== 0) {
        ctx.logger.warn({ path }, 'the master key file can be read by other users: chmod 600 it');
      }
      const dir = join(ctx.dataDir, 'custody');
      mkdirSync(dir, { recursive: true });
      const db = openLedgerDatabase({ path: dir, maxTables: 2 });
      try {
        const keys = db.table('custody.keys');
        const meta = db.table('custody.meta');
        const checkAad = utf8ToBytes(`${AAD_DOMAIN}\0master-check`);
        const stored = meta.get(CHECK_KEY);
        if (stored === undefined) {
          const check = seal(master, checkAad, new Uint8Array(32));
          await db.write((txn) => txn.put(meta, CHECK_KEY, utf8ToBytes(JSON.stringify(check))));
        } else {
          try {
            unseal(master, checkAad, JSON.parse(new TextDecoder().decode(stored)) as Sealed);
          } catch (cause) {
            throw new ConfigError(
              {
                code: ConfigErrorCode.INVALID,
                path,
                issues: ['masterKeyFile: not the key the custodial accounts were sealed with'],
              },
              `the master key in ${path} is not the one that sealed the custodial accounts in ${dir}`,
              { hint: 'Configure the original master key file; without it the custodial accounts cannot be used', cause },
            );
          }
        }
        return new Custody(ctx, { db, keys, master });
      } catch (err) {
        await db.close();
        throw err;
      }
    } catch (err) {
      master.fill(0);
      throw err;
    }
  }

  /** Closes the store and wipes the master key from memory. */
  async close(): Promise<void> {
    if (!this.#vault) return;
    await this.#vault.db.close();
    this.#vault.master.fill(0);
  }

  #requireVault(): Vault {
    if (!this.#vault) throw new RestError(501, 'CUSTODY_DISABLED', DISABLED_MESSAGE);
    return this.#vault;
  }

  /** The records of an app, oldest key bytes first (at most the per-app bound). */
  #list(vault: Vault, appId: string): CustodialRecord[] {
    const [start, end] = appRange(appId);
    const out: CustodialRecord[] = [];
    for (const k of vault.keys.keys(start, end, CUSTODIAL_ACCOUNTS_PER_APP_MAX)) {
      const value = vault.keys.get(k);
      if (value) out.push(this.#parse(value));
    }
    return out;
  }

  #get(vault: Vault, appId: string, address: Uint8Array): CustodialRecord | undefined {
    const value = vault.keys.get(recordKey(appId, address));
    if (!value) return undefined;
    const record = this.#parse(value);
    if (record.appId !== appId || record.address !== bytesToHex(address)) {
      throw new Error(`the custody store is corrupt: the record under ${appId}/${bytesToHex(address)} names another account`);
    }
    return record;
  }

  #parse(value: Uint8Array): CustodialRecord {
    return CustodialRecordSchema.parse(JSON.parse(new TextDecoder().decode(value)));
  }

  async #create(appId: string, owner: string): Promise<CustodialRecord> {
    const vault = this.#requireVault();
    const privateKey = generateSecp256k1PrivateKey();
    try {
      const address = privateKeyToAddress(privateKey);
      const addressHex = bytesToHex(address);
      const record = CustodialRecordSchema.parse({
        v: 1,
        appId,
        address: addressHex,
        owner,
        createdAt: Date.now(),
        ...sealPrivateKey(vault.master, appId, addressHex, privateKey),
      });
      // Assert on write: the sealed key opens to the same account.
      const reopened = openSealedKey(vault.master, record);
      const ok = bytesToHex(privateKeyToAddress(reopened)) === addressHex;
      reopened.fill(0);
      if (!ok) throw new Error('a sealed custodial key did not open to its own address');
      const [start, end] = appRange(appId);
      await vault.db.write((txn) => {
        // Counted inside the write transaction, so that concurrent creations cannot pass the bound together.
        let n = 0;
        for (const _ of vault.keys.keys(start, end, CUSTODIAL_ACCOUNTS_PER_APP_MAX)) n++;
        if (n >= CUSTODIAL_ACCOUNTS_PER_APP_MAX) {
          throw new RestError(
            422,
            'LIMIT_EXCEEDED',
            `the app ${appId} holds ${CUSTODIAL_ACCOUNTS_PER_APP_MAX} custodial accounts, the most it may: reuse one of them`,
          );
        }
        txn.put(vault.keys, recordKey(appId, address), utf8ToBytes(JSON.stringify(record)));
      });
      return record;
    } finally {
      privateKey.fill(0);
    }
  }

  /** Signs a transaction from `record`'s account with its next pending nonce and sends it; returns its hash. */
  async #signAndSend(
    ledger: GatewayLedger,
    keyId: string,
    record: CustodialRecord,
    tx: { to: Hex | undefined; value: bigint; gas: bigint | undefined; data: Hex },
  ): Promise<Uint8Array> {
    return this.#queues.run(`${ledger.id}/${record.address}`, async () => {
      const vault = this.#requireVault();
      const gas = tx.gas ?? (await this.#estimate(ledger, record.address as Hex, tx));
      const nonce = ledger.mempool.pendingNonce(hexToBytes(record.address));
      const unsigned = {
        type: 'eip1559',
        chainId: ledger.chainId,
        nonce: Number(nonce),
        ...(tx.to ? { to: tx.to } : {}),
        value: tx.value,
        gas,
        data: tx.data,
        // Fees are zero on Polis ledgers.
        maxFeePerGas: 0n,
        maxPriorityFeePerGas: 0n,
      } as const;
      const privateKey = openSealedKey(vault.master, record);
      let raw: Uint8Array;
      try {
        // Assert on read: the key opens to the account it is stored under.
        if (bytesToHex(privateKeyToAddress(privateKey)) !== record.address) {
          throw new Error(`the custodial key of ${record.address} opens to another account: the custody store is corrupt`);
        }
        const sig = secp256k1Sign(keccak256(hexToBytes(serializeTransaction(unsigned))), privateKey);
        raw = hexToBytes(serializeTransaction(unsigned, { r: bytesToHex(sig.r), s: bytesToHex(sig.s), yParity: sig.recovery }));
      } finally {
        privateKey.fill(0);
      }
      const hash = submitRaw(ledger, raw);
      this.#ctx.meter.txSent(ledger.id, keyId, bytesToHex(hash));
      return hash;
    });
  }

  /** The gas limit for a call: eth_estimateGas plus a margin, capped at the block gas limit. */
  async #estimate(ledger: GatewayLedger, from: Hex, tx: { to: Hex | undefined; value: bigint; data: Hex }): Promise<bigint> {
    const estimateGas = ledger.methods.eth_estimateGas as (p: unknown[]) => Promise<unknown>;
    let estimate: bigint;
    try {
      estimate = BigInt(
        (await estimateGas([{ from, ...(tx.to ? { to: tx.to } : {}), value: quantity(tx.value), data: tx.data }])) as string,
      );
    } catch (err) {
      if (err instanceof RpcError && err.code === RpcCode.EXECUTION_REVERTED) {
        throw new RestError(
          422,
          'EXECUTION_REVERTED',
          `${err.message}: the transaction would fail, so it was not sent; fix the call, or give "gas" to send it anyway`,
        );
      }
      if (err instanceof RpcError) throw new RestError(400, 'INVALID_REQUEST', err.message);
      throw err;
    }
    const padded = estimate + (estimate * GAS_MARGIN_PERCENT) / 100n;
    return padded < ledger.params.gasLimit ? padded : ledger.params.gasLimit;
  }

  #callData(body: TxBody): Hex {
    if (body.abi === undefined) return (body.data ?? '0x') as Hex;
    try {
      return encodeFunctionData({
        abi: body.abi as unknown as Abi,
        functionName: body.functionName as string,
        args: body.args ?? [],
      });
    } catch (err) {
      const e = err as { shortMessage?: string; message?: string };
      const reason = (e.shortMessage ?? e.message ?? String(err)).split('\n')[0];
      throw new RestError(400, 'INVALID_REQUEST', `the call cannot be encoded: ${reason}`, [
        `body.args: does not match ${body.functionName} in the abi (${reason})`,
      ]);
    }
  }

  #mayUse(key: KeyRecord, record: CustodialRecord): boolean {
    return record.owner === key.id || key.scopes.includes('admin');
  }

  /**
   * Signs `data` to `to` from the custodial account `from` with the caller's key, sends it and
   * waits like `POST /transactions` (the built-in services' write routes use it too).
   */
  sendAs(o: {
    ledger: GatewayLedger;
    auth: Authorized;
    req: FastifyRequest;
    reply: FastifyReply;
    from: string;
    to: string | undefined;
    data: Hex;
    value?: bigint;
    gas?: bigint | undefined;
    waitMs: number;
    /** The route, for the idempotency fingerprint. */
    route: string;
  }): Promise<unknown> {
    const vault = this.#requireVault();
    const { ledger, auth } = o;
    const key = auth.principal.key;
    const denied = methodDenied(key, 'eth_sendRawTransaction');
    if (denied) throw new RestError(403, 'FORBIDDEN', denied);
    const record = this.#get(vault, ledger.id, hexToBytes(o.from as Hex));
    if (!record) {
      throw new RestError(
        404,
        'NOT_FOUND',
        `${o.from} is not a custodial account of the app ${ledger.id}: create one with POST /api/v1/apps/${ledger.id}/accounts/custodial`,
      );
    }
    if (!this.#mayUse(key, record)) {
      throw new RestError(
        403,
        'FORBIDDEN',
        `the API key ${key.id} may not sign for ${record.address}: it belongs to the key ${record.owner} (or use the app's admin key)`,
      );
    }
    const to = o.to?.toLowerCase() as Hex | undefined;
    const why = contractDenied(key, to);
    if (why) throw new RestError(403, 'FORBIDDEN', why);
    const tx = { to, value: o.value ?? 0n, gas: o.gas, data: o.data.toLowerCase() as Hex };
    return submitAndWait({
      ctx: this.#ctx,
      ledger,
      req: o.req,
      reply: o.reply,
      waitMs: o.waitMs,
      fingerprint: fingerprintOf(o.route, {
        from: record.address,
        to: tx.to ?? null,
        value: tx.value.toString(),
        gas: tx.gas?.toString() ?? null,
        data: tx.data,
      }),
      send: () => this.#signAndSend(ledger, key.id, record, tx),
    });
  }

  #routes(): AnyRoute[] {
    const base = '/api/v1/apps/{id}';
    const ctx = this.#ctx;
    const disabled = { 501: 'Key trust mode is off on this node (no gateway.masterKeyFile)' };
    return [
      defineRoute({
        method: 'POST',
        path: `${base}/accounts/custodial`,
        summary: 'Creates a custodial account: the gateway keeps its key, encrypted, and signs for it (key trust mode)',
        tag: TAG,
        scope: 'write',
        status: 201,
        response: AccountInfoSchema,
        errors: { ...disabled, 422: `The app already holds ${CUSTODIAL_ACCOUNTS_PER_APP_MAX} custodial accounts` },
        handler: async ({ ledger, auth }) => {
          const r = await this.#create(ledger.id, auth.principal.key.id);
          ctx.logger.info({ app: ledger.id, address: r.address, owner: r.owner }, 'custodial account created');
          return { address: r.address, owner: r.owner, createdAt: r.createdAt };
        },
      }),
      defineRoute({
        method: 'GET',
        path: `${base}/accounts/custodial`,
        summary: "The app's custodial accounts",
        tag: TAG,
        scope: 'read',
        response: z.object({ accounts: z.array(AccountInfoSchema) }),
        errors: disabled,
        handler: ({ ledger }) => {
          const vault = this.#requireVault();
          return {
            accounts: this.#list(vault, ledger.id).map((r) => ({ address: r.address, owner: r.owner, createdAt: r.createdAt })),
          };
        },
      }),
      defineRoute({
        method: 'POST',
        path: `${base}/tx`,
        summary:
          'Signs a transaction from a custodial account (nonce and gas filled in, fee zero), sends it and waits like POST /transactions: ' +
          '200 committed with the receipt, 202 pending. Takes an Idempotency-Key header.',
        tag: TAG,
        scope: 'write',
        txs: 1,
        maxWaitMs: WAIT_MS_MAX,
        body: TxBodySchema,
        response: SubmitAnswerSchema,
        errors: {
          ...disabled,
          404: '`from` is not a custodial account of this app',
          409: 'The Idempotency-Key was used for another request',
          422: 'The call would revert (the transaction is not sent), or the mempool refused it',
          503: 'The mempool is full or the account has too many transactions waiting; see Retry-After',
        },
        handler: ({ body, ledger, auth, req, reply }) =>
          this.sendAs({
            ledger,
            auth,
            req,
            reply,
            from: body.from,
            to: body.to,
            data: this.#callData(body),
            value: BigInt(body.value ?? '0'),
            gas: body.gas === undefined ? undefined : BigInt(body.gas),
            waitMs: body.waitMs,
            route: 'POST /tx',
          }),
      }),
    ];
  }
}
