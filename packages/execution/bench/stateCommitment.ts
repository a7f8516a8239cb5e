/**
 * The benchmark behind docs/adr/0003-state-commitment.md: ERC-20 transfers through the real
 * @ethereumjs/evm over the journaled state overlay, committed block by block to LMDB with each
 * state commitment (`none`, `mpt`, `smt`), plus proof sizes and verification times.
 *
 *   npm run build && node packages/execution/dist/bench/stateCommitment.js [--transfers 10000] ...
 *
 * Each commitment runs in its own child process (the same script with `--only <kind>`), so one
 * run's heap and JIT state do not tax the next. The parent prints one JSON line.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Common, Hardfork, Mainnet } from '@ethereumjs/common';
import { createEVM } from '@ethereumjs/evm';
import { Account, Address } from '@ethereumjs/util';
import { bigIntToBytes, bytesToHex, concatBytes, keccak256, rlpEncode, seededRandom } from '@polis/core';
import { JournaledStateManager } from '@polis/execution';
import {
  type CommitmentKind,
  openLedgerDatabase,
  openStateStore,
  type StateProof,
  type StateWriteSet,
  smtPathBytes,
  verifyStateProof,
} from '@polis/ledger';
import { balanceSlot, compileContract, ERC20_SOURCE, encodeArgs, encodeCall } from './erc20.js';

type Params = {
  transfers: number;
  blockSize: number;
  senders: number;
  holders: number;
  recipients: number;
  warmupBlocks: number;
  proofs: number;
  seed: number;
};

type RunResult = {
  commitment: CommitmentKind;
  /** Wall-clock throughput: transfers over the time spent executing and committing them. */
  transfersPerSecond: number;
  /** The same over the process's CPU time (every thread), which other load on the machine disturbs less. */
  transfersPerCpuSecond: number;
  executeMs: number;
  commitMs: number;
  commitMsPerBlock: number;
  executeCpuMs: number;
  commitCpuMs: number;
  genesisMs: number;
  nodesPerBlock: number;
  nodeBytesPerBlock: number;
  failedTransfers: number;
  stateRoot: string;
  writeSetDigest: string;
  proof?: {
    accountProofBytes: number;
    storageProofBytes: number;
    accountVerifyMicros: number;
    storageVerifyMicros: number;
  };
};

const DEFAULTS: Params = {
  transfers: 10_000,
  blockSize: 500,
  senders: 1_000,
  holders: 50_000,
  recipients: 50_000,
  warmupBlocks: 2,
  proofs: 200,
  seed: 1,
};
const KINDS: CommitmentKind[] = ['none', 'mpt', 'smt'];

function parseArgs(argv: string[]): { params: Params; only?: CommitmentKind; kinds: CommitmentKind[] } {
  const params = { ...DEFAULTS };
  let only: CommitmentKind | undefined;
  let kinds = KINDS;
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i] as string;
    const value = argv[i + 1] ?? '';
    const name = flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (name === 'only') only = value as CommitmentKind;
    else if (name === 'commitments') kinds = value.split(',') as CommitmentKind[];
    else if (name in params && /^\d+$/.test(value)) params[name as keyof Params] = Number(value);
    else throw new Error(`unknown or invalid option ${flag} ${value}`);
  }
  return only === undefined ? { params, kinds } : { params, only, kinds };
}

function addresses(next: () => number, n: number): Address[] {
  return Array.from({ length: n }, () => new Address(Uint8Array.from({ length: 20 }, () => Math.floor(next() * 256))));
}

/** A digest of a write set, to check that every commitment committed exactly the same state. */
function digest(previous: Uint8Array, writes: StateWriteSet): Uint8Array {
  const encoded = rlpEncode([
    writes.accounts.map((w) => [w.address, w.account ? [w.account.nonce, w.account.balance, w.account.codeHash] : []]),
    writes.storageCleared,
    writes.storage.map((w) => [w.address, w.slot, w.value]),
    writes.code.map((w) => [w.codeHash]),
  ]);
  return keccak256(concatBytes(previous, encoded));
}

function proofBytes(proof: StateProof): { account: number; storage: number } {
  if (proof.kind === 'mpt') {
    const nodes = (list: string[]) => list.reduce((sum, n) => sum + (n.length - 2) / 2, 0);
    // A slot is proven by the account path (to its storage root) and then the storage path.
    const account = nodes(proof.proof.accountProof);
    return { account, storage: account + nodes(proof.proof.storageProof[0]?.proof ?? []) };
  }
  const slot = proof.proof.storageProof[0];
  return { account: smtPathBytes(proof.proof.accountProof), storage: slot ? smtPathBytes(slot.proof) : 0 };
}

async function run(kind: CommitmentKind, params: Params): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), `polis-bench-${kind}-`));
  const db = openLedgerDatabase({ path: dir });
  try {
    const store = await openStateStore({ db, commitment: kind });
    const state = new JournaledStateManager({ state: store });
    const evm = await createEVM({ common: new Common({ chain: Mainnet, hardfork: Hardfork.Prague }), stateManager: state });
    const next = seededRandom(params.seed);
    const deployer = new Address(new Uint8Array(20).fill(0xd0));
    const senders = addresses(next, params.senders);
    const holders = addresses(next, params.holders);
    const recipients = addresses(next, params.recipients);
    let writeSetDigest: Uint8Array = new Uint8Array(32);
    let height = 0;
    // What commitBlockState does, keeping the write set so that its digest can be taken outside
    // the timed region.
    const commit = async () => {
      const writes = state.writeSet();
      const result = await store.commitBlock({ height: height++, writes });
      state.reset();
      return { ...result, writes };
    };
    const fold = (writes: StateWriteSet) => {
      writeSetDigest = digest(writeSetDigest, writes);
    };

    // Genesis: the token, every sender funded, and `holders` accounts that already hold tokens,
    // so the tries have a realistic size. Balances are written directly, as a genesis file would.
    const genesisStart = performance.now();
    const token = compileContract(ERC20_SOURCE, 'Token');
    state.originalStorageCache.clear();
    const deployed = await evm.runCall({
      caller: deployer,
      data: concatBytes(token.bytecode, encodeArgs([10n ** 30n])),
      gasLimit: 5_000_000n,
    });
    await evm.journal.cleanup();
    const tokenAddress = deployed.createdAddress as Address;
    if (deployed.execResult.exceptionError || !tokenAddress) throw new Error('the token did not deploy');
    const funded = bigIntToBytes(10n ** 18n);
    for (const a of [...senders, ...holders]) {
      await state.putAccount(a, new Account(1n, 0n));
      await state.putStorage(tokenAddress, balanceSlot(a.bytes), funded);
    }
    fold((await commit()).writes);
    const genesisMs = performance.now() - genesisStart;

    const transfer = (i: number) => {
      const to = recipients[Math.floor(next() * recipients.length)] as Address;
      return {
        caller: senders[i % senders.length] as Address,
        data: encodeCall('transfer(address,uint256)', [to.bytes, BigInt(1 + (i % 97))]),
      };
    };
    let failedTransfers = 0;
    let executeMs = 0;
    let commitMs = 0;
    let executeCpuMs = 0;
    let commitCpuMs = 0;
    const cpuMs = () => {
      const { user, system } = process.cpuUsage();
      return (user + system) / 1000;
    };
    let nodes = 0;
    let nodeBytes = 0;
    const blocks = Math.ceil(params.transfers / params.blockSize);
    let sent = 0;
    for (let b = 0; b < params.warmupBlocks + blocks; b++) {
      const timed = b >= params.warmupBlocks;
      const count = timed ? Math.min(params.blockSize, params.transfers - sent) : params.blockSize;
      const calls = Array.from({ length: count }, (_, i) => transfer(b * params.blockSize + i));
      const c0 = cpuMs();
      const t0 = performance.now();
      for (const c of calls) {
        // What a block executor does around each transaction (see @ethereumjs/vm runTx).
        state.originalStorageCache.clear();
        const result = await evm.runCall({ caller: c.caller, to: tokenAddress, data: c.data, gasLimit: 100_000n });
        await evm.journal.cleanup();
        if (result.execResult.exceptionError) failedTransfers++;
      }
      const t1 = performance.now();
      const c1 = cpuMs();
      const committed = await commit();
      const t2 = performance.now();
      const c2 = cpuMs();
      fold(committed.writes);
      if (timed) {
        executeMs += t1 - t0;
        commitMs += t2 - t1;
        executeCpuMs += c1 - c0;
        commitCpuMs += c2 - c1;
        nodes += committed.nodeCount;
        nodeBytes += committed.nodeBytes;
        sent += count;
      }
    }

    const result: RunResult = {
      commitment: kind,
      transfersPerSecond: Math.round((sent / (executeMs + commitMs)) * 1000),
      transfersPerCpuSecond: Math.round((sent / (executeCpuMs + commitCpuMs)) * 1000),
      executeMs: Math.round(executeMs),
      commitMs: Math.round(commitMs),
      commitMsPerBlock: Number((commitMs / blocks).toFixed(2)),
      executeCpuMs: Math.round(executeCpuMs),
      commitCpuMs: Math.round(commitCpuMs),
      genesisMs: Math.round(genesisMs),
      nodesPerBlock: Math.round(nodes / blocks),
      nodeBytesPerBlock: Math.round(nodeBytes / blocks),
      failedTransfers,
      stateRoot: bytesToHex(store.stateRoot),
      writeSetDigest: bytesToHex(writeSetDigest),
    };
    if (kind !== 'none') {
      // Proofs of random senders' accounts and of random recipients' token balances.
      const pick = seededRandom(params.seed + 1);
      const accountProofs: StateProof[] = [];
      const storageProofs: StateProof[] = [];
      for (let i = 0; i < params.proofs; i++) {
        const sender = senders[Math.floor(pick() * senders.length)] as Address;
        const recipient = recipients[Math.floor(pick() * recipients.length)] as Address;
        accountProofs.push(await store.prove(sender.bytes));
        storageProofs.push(await store.prove(tokenAddress.bytes, [balanceSlot(recipient.bytes)]));
      }
      const root = store.stateRoot;
      const time = async (proofs: StateProof[]) => {
        const start = performance.now();
        for (const p of proofs) {
          const verdict = await verifyStateProof(root, p);
          if (!verdict.valid) throw new Error(`a proof failed to verify: ${verdict.reason}`);
        }
        return Number((((performance.now() - start) / proofs.length) * 1000).toFixed(1));
      };
      const mean = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) / xs.length);
      result.proof = {
        accountProofBytes: mean(accountProofs.map((p) => proofBytes(p).account)),
        storageProofBytes: mean(storageProofs.map((p) => proofBytes(p).storage)),
        accountVerifyMicros: await time(accountProofs),
        storageVerifyMicros: await time(storageProofs),
      };
    }
    return result;
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { params, only, kinds } = parseArgs(process.argv.slice(2));
  if (only !== undefined) {
    process.stdout.write(`${JSON.stringify(await run(only, params))}\n`);
    return;
  }
  const script = fileURLToPath(import.meta.url);
  const passThrough = process.argv.slice(2);
  const results: Record<string, RunResult> = {};
  for (const kind of kinds) {
    const out = execFileSync(process.execPath, [script, ...passThrough, '--only', kind], {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    });
    results[kind] = JSON.parse(out.trim().split('\n').pop() as string) as RunResult;
  }
  const digests = new Set(Object.values(results).map((r) => r.writeSetDigest));
  if (digests.size !== 1) throw new Error('the commitments committed different states; the comparison is void');
  const ratio = (key: 'transfersPerSecond' | 'transfersPerCpuSecond') => {
    const mpt = results.mpt?.[key];
    const smt = results.smt?.[key];
    return mpt && smt ? Number((mpt / smt).toFixed(3)) : undefined;
  };
  process.stdout.write(
    `${JSON.stringify({
      bench: 'state-commitment',
      node: process.version,
      cpu: cpus()[0]?.model ?? 'unknown',
      params,
      results,
      mptToSmtThroughput: ratio('transfersPerSecond') ?? null,
      mptToSmtCpuThroughput: ratio('transfersPerCpuSecond') ?? null,
      loadAverage: loadavg().map((x) => Number(x.toFixed(2))),
    })}\n`,
  );
}

await main();
