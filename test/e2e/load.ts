/**
 * The load stage: ERC-20 transfers (the `TestToken` fixture, compiled with solc) signed by ethers
 * wallets with explicitly managed nonces and submitted with ethers providers to whichever nodes
 * are healthy at that moment, in rotation, so every node takes client traffic.
 *
 * Every transaction is recorded with the receipt it got. Receipts are collected block by block
 * (`eth_getBlockReceipts` on one healthy node) rather than per transaction, which keeps the
 * watcher's cost independent of the load. A transaction with no receipt some time after it was
 * last sent is sent again, to another healthy node, as a real client would: a node that is
 * SIGKILLed may take accepted transactions from its (non-durable) mempool with it. Resending the
 * same signed bytes is idempotent ("already known", or "nonce too low" once it is included).
 */
import {
  FetchRequest,
  getCreateAddress,
  Interface,
  type InterfaceAbi,
  JsonRpcProvider,
  keccak256,
  Network,
  Wallet,
} from 'ethers';
import type { NodeProcess } from './processes.js';
import { headOf, RPCAnswerError, rpcBatch, sleep, toQuantity } from './rpc.js';

/** How the load stage runs. */
export type LoadOptions = {
  /** Accounts that send transfers (dev accounts 1..senders; dev account 0 deploys the token). */
  senders: number;
  /** Transfers per second over all senders, at most. */
  ratePerSecond: number;
  /** Unreceipted transfers per sender, at most. */
  inFlightPerSender: number;
  /** A transaction with no receipt this long after it was last sent is sent again. */
  resendAfterMs: number;
};

/** Default load options. */
export const LOAD_DEFAULTS: LoadOptions = { senders: 4, ratePerSecond: 40, inFlightPerSender: 8, resendAfterMs: 3_000 };

/** A transaction the load sent and what happened to it. */
export type TxRecord = {
  hash: string;
  raw: string;
  kind: 'deploy' | 'fund' | 'transfer';
  /** The sending account's dev index (0 deploys and funds). */
  sender: number;
  nonce: number;
  /** Token recipient and amount (fund and transfer). */
  to?: string;
  value?: bigint;
  firstSentMs: number;
  lastSentMs: number;
  /** Submissions, counting resends. */
  sends: number;
  /** Nodes that answered eth_sendRawTransaction with its hash. */
  acceptedBy: number[];
  /** The error answer of a node that refused it; a refused transaction is not sent again. */
  refusal?: string;
  receipt?: { blockNumber: number; blockHash: string; status: number; contractAddress: string | null; seenMs: number };
};

/** What the load did, for the report. */
export type LoadStats = {
  transfers: number;
  receipts: number;
  /** Transactions still without a receipt when the stage ended: lost ones. */
  missing: number;
  resends: number;
  /**
   * Transactions that needed a resend, by the node that first took them ("none": no node did).
   * A node's mempool sends a transaction on once, when it takes it, so one taken just before the
   * node was killed, paused or cut off waits for that node's turn to propose, or for a resend.
   */
  resentByFirstNode: Record<string, number>;
  /** Submissions that failed in transport (killed, paused or unreachable node) and went to another node. */
  transportErrors: number;
  /** Error answers other than "already known" / "nonce too low": a valid transaction refused. */
  rejections: string[];
  latencyMs: { p50: number; p99: number; max: number };
};

type SenderState = { wallet: Wallet; index: number; nextNonce: number; inFlight: Set<string> };

/** Token units each sender gets from the deployer. */
const FUNDING = 10n ** 21n;
/** The token's total supply, minted to the deployer. */
export const TOKEN_SUPPLY = 10n ** 24n;
const RECIPIENTS = 16;
const GAS_LIMIT = 120_000n;
/** The token's creation costs about 0.6 M gas. */
const DEPLOY_GAS_LIMIT = 2_000_000n;
const SUBMIT_ATTEMPTS_MAX = 20;
const WATCH_INTERVAL_MS = 100;
/** Heights one eth_getBlockReceipts batch covers. */
const RECEIPT_HEIGHTS_PER_BATCH = 50;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** The JSON-RPC error inside an ethers error, if the node answered with one (not a transport failure). */
function answerError(err: unknown): { code: number; message: string } | undefined {
  const e = err as { info?: { error?: unknown }; error?: unknown };
  const inner = (e?.info?.error ?? e?.error) as { code?: unknown; message?: unknown } | undefined;
  if (inner && typeof inner.code === 'number' && typeof inner.message === 'string')
    return { code: inner.code, message: inner.message };
  return undefined;
}

/** An ERC-20 load against a set of node processes. */
export class Erc20Load {
  readonly records = new Map<string, TxRecord>();
  readonly recipients: string[];
  readonly token: string;
  readonly iface: Interface;
  private readonly deployer: Wallet;
  private readonly senders: SenderState[];
  private readonly providers = new Map<number, JsonRpcProvider>();
  private readonly network: Network;
  private readonly started = performance.now();
  private scanned = -1;
  private watchNode = 0;
  private rotation = 0;
  private nextSlotMs = 0;
  private stopping = false;
  private closed = false;
  private senderLoops: Promise<void>[] = [];
  private watcher: Promise<void> | undefined;
  private resends = 0;
  private transportErrors = 0;
  private readonly rejections: string[] = [];

  constructor(
    private readonly nodes: NodeProcess[],
    private readonly opts: LoadOptions & {
      chainId: number;
      token: { abi: readonly Record<string, unknown>[]; bytecode: string };
      /** Dev account private keys by index. */
      accounts: string[];
      /** Picks recipients and amounts. */
      random: () => number;
    },
  ) {
    this.network = new Network('polis-e2e', opts.chainId);
    this.iface = new Interface(opts.token.abi as InterfaceAbi);
    this.deployer = new Wallet(opts.accounts[0] as string);
    this.senders = Array.from({ length: opts.senders }, (_, i) => ({
      wallet: new Wallet(opts.accounts[i + 1] as string),
      index: i + 1,
      nextNonce: 0,
      inFlight: new Set<string>(),
    }));
    this.token = getCreateAddress({ from: this.deployer.address, nonce: 0 });
    this.recipients = Array.from({ length: RECIPIENTS }, (_, i) => `0x${(0xe2e000 + i).toString(16).padStart(40, '0')}`);
  }

  private now(): number {
    return performance.now() - this.started;
  }

  private provider(node: number): JsonRpcProvider {
    let p = this.providers.get(node);
    if (!p) {
      const request = new FetchRequest((this.nodes[node] as NodeProcess).rpcUrl);
      // A SIGSTOPped node accepts the connection and never answers: give up and try another.
      request.timeout = 3_000;
      p = new JsonRpcProvider(request, this.network, { staticNetwork: this.network, pollingInterval: 50, cacheTimeout: -1 });
      this.providers.set(node, p);
    }
    return p;
  }

  /** All senders' addresses, the deployer's and the recipients': every account whose balance changes. */
  accounts(): string[] {
    return [this.deployer.address, ...this.senders.map((s) => s.wallet.address), ...this.recipients];
  }

  /** Deploys the token and funds the senders; resolves once all of that is in blocks. */
  async deploy(timeoutMs: number): Promise<void> {
    // Receipts are looked for in the blocks after the current head: nothing was sent before.
    const first = this.nodes.find((n) => n.healthy);
    if (!first) throw new Error('no healthy node to deploy the token through');
    this.scanned = await headOf(first.rpcUrl);
    this.watcher = this.watch();
    const deploy = await this.deployer.signTransaction(
      this.txFields(0, null, `${this.opts.token.bytecode}${this.encodeSupply()}`),
    );
    const txs = [this.track(deploy, { kind: 'deploy', sender: 0, nonce: 0 })];
    for (const [i, s] of this.senders.entries()) {
      const data = this.iface.encodeFunctionData('transfer', [s.wallet.address, FUNDING]);
      const raw = await this.deployer.signTransaction(this.txFields(i + 1, this.token, data));
      txs.push(this.track(raw, { kind: 'fund', sender: 0, nonce: i + 1, to: s.wallet.address, value: FUNDING }));
    }
    for (const r of txs) await this.submit(r);
    const deadline = performance.now() + timeoutMs;
    while (txs.some((r) => !r.receipt)) {
      if (performance.now() > deadline)
        throw new Error(`the token deployment and funding got no receipts within ${timeoutMs} ms`);
      await sleep(WATCH_INTERVAL_MS);
    }
    const failed = txs.filter((r) => r.receipt?.status !== 1);
    if (failed.length > 0) throw new Error(`setup transactions failed: ${failed.map((r) => `${r.kind} ${r.hash}`).join(', ')}`);
    if (txs[0]?.receipt?.contractAddress?.toLowerCase() !== this.token.toLowerCase())
      throw new Error(`the token was deployed at ${txs[0]?.receipt?.contractAddress}, expected ${this.token}`);
  }

  private encodeSupply(): string {
    return this.iface.encodeDeploy([TOKEN_SUPPLY]).slice(2);
  }

  private txFields(nonce: number, to: string | null, data: string) {
    return {
      type: 2,
      chainId: this.opts.chainId,
      nonce,
      to,
      data,
      value: 0n,
      gasLimit: to === null ? DEPLOY_GAS_LIMIT : GAS_LIMIT,
      maxFeePerGas: 0n,
      maxPriorityFeePerGas: 0n,
    };
  }

  private track(raw: string, r: Pick<TxRecord, 'kind' | 'sender' | 'nonce' | 'to' | 'value'>): TxRecord {
    const now = this.now();
    const record: TxRecord = { ...r, hash: keccak256(raw), raw, firstSentMs: now, lastSentMs: now, sends: 0, acceptedBy: [] };
    this.records.set(record.hash, record);
    return record;
  }

  /** Starts the senders; the load runs until `drain`. */
  start(): void {
    this.senderLoops = this.senders.map((s) => this.senderLoop(s));
  }

  private async senderLoop(s: SenderState): Promise<void> {
    while (!this.stopping) {
      // A shared pace: slots 1/rate apart over all senders.
      const now = performance.now();
      this.nextSlotMs = Math.max(this.nextSlotMs, now) + 1000 / this.opts.ratePerSecond;
      await sleep(this.nextSlotMs - now);
      while (s.inFlight.size >= this.opts.inFlightPerSender && !this.stopping) await sleep(20);
      if (this.stopping) return;
      const to = this.recipients[Math.floor(this.opts.random() * this.recipients.length)] as string;
      const value = 1n + BigInt(Math.floor(this.opts.random() * 1000));
      const nonce = s.nextNonce++;
      const raw = await s.wallet.signTransaction(
        this.txFields(nonce, this.token, this.iface.encodeFunctionData('transfer', [to, value])),
      );
      const record = this.track(raw, { kind: 'transfer', sender: s.index, nonce, to, value });
      s.inFlight.add(record.hash);
      await this.submit(record);
    }
  }

  /** Sends a transaction to the healthy nodes in rotation until one takes it (or knows it). */
  private async submit(record: TxRecord): Promise<void> {
    record.sends++;
    record.lastSentMs = this.now();
    for (let attempt = 0; attempt < SUBMIT_ATTEMPTS_MAX && !this.closed; attempt++) {
      const healthy = this.nodes.filter((n) => n.healthy);
      if (healthy.length === 0) {
        await sleep(100);
        continue;
      }
      const node = healthy[this.rotation++ % healthy.length] as NodeProcess;
      try {
        const hash = await this.provider(node.spec.index).send('eth_sendRawTransaction', [record.raw]);
        if (hash !== record.hash) this.rejections.push(`${node.spec.name} answered ${hash} for ${record.hash}`);
        record.acceptedBy.push(node.spec.index);
        return;
      } catch (err) {
        const answer = answerError(err);
        if (!answer) {
          this.transportErrors++;
          await sleep(50);
          continue;
        }
        // The node has it already, or included it (one signed transaction per nonce, so a
        // passed nonce is this transaction's): the receipt watcher will find it.
        if (/already known|nonce too low/i.test(answer.message)) return;
        record.refusal = `${node.spec.name} refused ${record.kind} ${record.hash} (sender ${record.sender}, nonce ${record.nonce}): ${answer.message}`;
        this.rejections.push(record.refusal);
        return;
      }
    }
  }

  /** Collects receipts block by block from one healthy node, and resends what has waited too long. */
  private async watch(): Promise<void> {
    let lastResendCheck = 0;
    while (!this.closed) {
      await sleep(WATCH_INTERVAL_MS);
      try {
        await this.scan();
      } catch {
        // The watched node went away mid-request: the next round picks another.
        this.watchNode++;
      }
      if (this.now() - lastResendCheck > 500) {
        lastResendCheck = this.now();
        await this.resendStale();
      }
    }
  }

  private async scan(): Promise<void> {
    const healthy = this.nodes.filter((n) => n.healthy);
    if (healthy.length === 0) return;
    const node = healthy[this.watchNode % healthy.length] as NodeProcess;
    const head = await headOf(node.rpcUrl, 1_000);
    while (this.scanned < head && !this.closed) {
      const to = Math.min(head, this.scanned + RECEIPT_HEIGHTS_PER_BATCH);
      const calls: Array<readonly [string, unknown[]]> = [];
      for (let h = this.scanned + 1; h <= to; h++) calls.push(['eth_getBlockReceipts', [toQuantity(h)]] as const);
      type Receipt = {
        transactionHash: string;
        blockNumber: string;
        blockHash: string;
        status: string;
        contractAddress: string | null;
      };
      const blocks = await rpcBatch<Receipt[] | null>(node.rpcUrl, calls, 3_000);
      const seenMs = this.now();
      for (const [i, receipts] of blocks.entries()) {
        if (!receipts) throw new RPCAnswerError(0, `block ${this.scanned + 1 + i} has no receipts`, 'eth_getBlockReceipts');
        for (const r of receipts) {
          const record = this.records.get(r.transactionHash);
          if (!record || record.receipt) continue;
          record.receipt = {
            blockNumber: Number(r.blockNumber),
            blockHash: r.blockHash,
            status: Number(r.status),
            contractAddress: r.contractAddress,
            seenMs,
          };
          this.senders[record.sender - 1]?.inFlight.delete(record.hash);
        }
      }
      this.scanned = to;
    }
  }

  private async resendStale(): Promise<void> {
    const stale = [...this.records.values()]
      .filter((r) => !r.receipt && r.refusal === undefined && this.now() - r.lastSentMs > this.opts.resendAfterMs)
      .sort((a, b) => a.sender - b.sender || a.nonce - b.nonce);
    for (const r of stale) {
      if (this.closed) return;
      this.resends++;
      await this.submit(r);
    }
  }

  /** Stops sending and waits until every transaction has a receipt, or `timeoutMs` passes. */
  async drain(timeoutMs: number): Promise<void> {
    this.stopping = true;
    await Promise.all(this.senderLoops);
    const deadline = performance.now() + timeoutMs;
    const waiting = () => [...this.records.values()].some((r) => !r.receipt && r.refusal === undefined);
    while (waiting() && performance.now() < deadline) await sleep(WATCH_INTERVAL_MS);
  }

  /** Stops the watcher and the providers. */
  async close(): Promise<void> {
    this.stopping = true;
    this.closed = true;
    await Promise.all(this.senderLoops);
    await this.watcher;
    for (const p of this.providers.values()) p.destroy();
    this.providers.clear();
  }

  /** The token balances the receipts imply: the supply at the deployer, then every successful fund and transfer. */
  expectedBalances(): Map<string, bigint> {
    const balances = new Map<string, bigint>(this.accounts().map((a) => [a.toLowerCase(), 0n]));
    balances.set(this.deployer.address.toLowerCase(), TOKEN_SUPPLY);
    const from = (r: TxRecord) =>
      (r.sender === 0 ? this.deployer : (this.senders[r.sender - 1] as SenderState).wallet).address.toLowerCase();
    for (const r of this.records.values()) {
      if (r.kind === 'deploy' || r.receipt?.status !== 1 || r.to === undefined || r.value === undefined) continue;
      balances.set(from(r), (balances.get(from(r)) ?? 0n) - r.value);
      balances.set(r.to.toLowerCase(), (balances.get(r.to.toLowerCase()) ?? 0n) + r.value);
    }
    return balances;
  }

  /** Counts for the report. */
  stats(): LoadStats {
    const records = [...this.records.values()];
    const latencies = records
      .filter((r) => r.kind === 'transfer' && r.receipt)
      .map((r) => (r.receipt?.seenMs ?? 0) - r.firstSentMs)
      .sort((a, b) => a - b);
    return {
      transfers: records.filter((r) => r.kind === 'transfer').length,
      receipts: records.filter((r) => r.receipt).length,
      missing: records.filter((r) => !r.receipt).length,
      resends: this.resends,
      resentByFirstNode: records
        .filter((r) => r.sends > 1)
        .reduce<Record<string, number>>((acc, r) => {
          const first = r.acceptedBy[0];
          const key = first === undefined ? 'none' : (this.nodes[first]?.spec.name ?? String(first));
          acc[key] = (acc[key] ?? 0) + 1;
          return acc;
        }, {}),
      transportErrors: this.transportErrors,
      rejections: [...this.rejections],
      latencyMs: {
        p50: Math.round(percentile(latencies, 50)),
        p99: Math.round(percentile(latencies, 99)),
        max: Math.round(latencies.at(-1) ?? 0),
      },
    };
  }
}
