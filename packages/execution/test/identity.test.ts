/**
 * The identity service's account policy at the executor and mempool level, over a real LMDB state
 * store: a block that holds a transaction from a sender the policy refuses is invalid in `verify`
 * mode and leaves the transaction out in `build` mode; the check runs on the block's overlay (a
 * grant, attestation or revocation earlier in the same block counts); admins and transactions to
 * the identity service always pass; calls are not affected; and the mempool refuses the sender
 * with the policy's reason.
 */
import { bytesToHex, hexToBytes } from '@polis/core';
import { createLedgerCommon, createStateWriteSet, type DecodedTx, decodeTx, Mempool, TxError, TxErrorCode } from '@polis/ledger';
import { encodeFunctionData, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BlockExecution,
  BlockExecutor,
  commitBlockState,
  IDENTITY_ABI,
  IDENTITY_ADDRESS,
  IDENTITY_ROLES,
  identityGenesisWrites,
  identityRoleId,
  RECORDS_ABI,
  RECORDS_ADDRESS,
  senderPolicyRefusal,
  serviceGenesisWrites,
} from '../src/index.js';
import { type Fixture, openFixture } from './helpers.js';

const CHAIN_ID = 31337n;
const common = createLedgerCommon(CHAIN_ID);
const GAS_LIMIT = 30_000_000n;
const KYC = identityRoleId('kyc');
const ZERO32 = bytesToHex(new Uint8Array(32));

const key = (n: number) => `0x${n.toString(16).padStart(64, '0')}` as Hex;
const owner = privateKeyToAccount(key(1));
const issuer = privateKeyToAccount(key(2));
const newcomer = privateKeyToAccount(key(3));
const other = privateKeyToAccount(key(4));
type Account = typeof owner;

let f: Fixture;
let executor: BlockExecutor;
let height = 0;
let timeMs = 1_700_000_000_000;

const identityData = (functionName: string, args: readonly unknown[]) =>
  encodeFunctionData({ abi: IDENTITY_ABI, functionName, args } as never);
const recordData = (n: number) => encodeFunctionData({ abi: RECORDS_ABI, functionName: 'record', args: [key(1000 + n), '0x'] });

/** A signed transaction from `from`, `offset` nonces past its committed nonce. */
async function tx(from: Account, to: Uint8Array, data: Hex, offset = 0): Promise<DecodedTx> {
  const nonce = (f.store.getAccount(hexToBytes(from.address))?.nonce ?? 0n) + BigInt(offset);
  const raw = await from.signTransaction({
    chainId: Number(CHAIN_ID),
    type: 'eip1559',
    to: bytesToHex(to),
    data,
    nonce: Number(nonce),
    gas: 1_000_000n,
    maxFeePerGas: 0n,
    maxPriorityFeePerGas: 0n,
  });
  return decodeTx(hexToBytes(raw), common);
}

const env = (time = timeMs) => ({ height: height + 1, timeMs: time, gasLimit: GAS_LIMIT, coinbase: new Uint8Array(20) });

/** Executes `txs` as the next block in `mode` without committing it. */
function execute(txs: DecodedTx[], mode: 'build' | 'verify', time = timeMs) {
  return executor.executeBlock(env(time), txs, mode);
}

/** Builds and commits the next block; every transaction must be included and succeed. */
async function commit(txs: DecodedTx[]): Promise<BlockExecution> {
  const exec = await execute(txs, 'build');
  if ('invalid' in exec) throw new Error(exec.invalid);
  expect(exec.included.length, 'every transaction of a committed block is included').toBe(txs.length);
  for (const [i, r] of exec.receipts.entries()) expect(r.status, `transaction ${i} of block ${height + 1} succeeds`).toBe(1);
  height += 1;
  await commitBlockState(f.store, executor.state, { height });
  timeMs += 1_000;
  return exec;
}

const committedRead = (slot: Uint8Array) => f.store.getStorage(IDENTITY_ADDRESS, slot);

beforeAll(async () => {
  f = await openFixture('smt');
  const services = serviceGenesisWrites();
  await f.store.commitBlock({
    height: 0,
    writes: createStateWriteSet({
      accounts: services.accounts,
      code: services.code,
      storage: identityGenesisWrites(hexToBytes(owner.address)),
    }),
  });
  executor = await BlockExecutor.create({ common, committed: f.store });
  // The owner registers an issuer and requires a KYC attestation of every sender.
  await commit([
    await tx(owner, IDENTITY_ADDRESS, identityData('grantRole', [issuer.address, IDENTITY_ROLES.issuer])),
    await tx(owner, IDENTITY_ADDRESS, identityData('setPolicy', [ZERO32, KYC]), 1),
  ]);
});

afterAll(async () => {
  await f?.close();
});

describe('identity account policy in block execution', () => {
  it('error: a block holding a transaction from a sender without the required attestation is invalid; a builder leaves it out', async () => {
    const refused = await tx(newcomer, RECORDS_ADDRESS, recordData(1));
    const verify = await execute([refused], 'verify');
    expect('invalid' in verify && verify.invalid).toMatch(
      /^transaction 0 is refused by the account policy: the app's policy requires a valid 'kyc' attestation of every sender, and 0x[0-9a-f]{40} has none; a registered issuer attests it/,
    );
    const build = await execute([refused], 'build');
    expect('included' in build && build.included).toEqual([]);
    // Calls are not affected: the same message as an eth_call runs.
    const call = await executor.call(env(), {
      from: hexToBytes(newcomer.address),
      to: RECORDS_ADDRESS,
      data: hexToBytes(recordData(1)),
    });
    expect(call.success).toBe(true);
  });

  it('error: the mempool refuses the sender with the policy reason; admins and transactions to the identity service pass', async () => {
    const mempool = new Mempool({
      common,
      nonceOf: (a) => f.store.getAccount(a)?.nonce ?? 0n,
      blockGasLimit: GAS_LIMIT,
      isPermitted: (sender, t) => senderPolicyRefusal(committedRead, sender, timeMs, t.tx.to?.bytes) ?? true,
    });
    const refused = await tx(newcomer, RECORDS_ADDRESS, recordData(2));
    let error: unknown;
    try {
      mempool.add(refused.raw);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(TxError);
    expect((error as TxError).code).toBe(TxErrorCode.NOT_PERMITTED);
    expect((error as TxError).message).toMatch(
      new RegExp(
        `^account ${newcomer.address.toLowerCase()} is not permitted to transact on this ledger: .*'kyc' attestation.* has none`,
      ),
    );
    expect(mempool.size).toBe(0);
    // A newcomer may create its DID; the admin needs no attestation.
    mempool.add((await tx(newcomer, IDENTITY_ADDRESS, identityData('createDid', ['0x7b7d']))).raw);
    mempool.add((await tx(owner, RECORDS_ADDRESS, recordData(3))).raw);
    expect(mempool.size).toBe(2);
    // The executor agrees, in verify mode.
    const exec = await execute(
      [
        await tx(newcomer, IDENTITY_ADDRESS, identityData('createDid', ['0x7b7d'])),
        await tx(owner, RECORDS_ADDRESS, recordData(3)),
      ],
      'verify',
    );
    expect('invalid' in exec ? exec.invalid : exec.receipts.map((r) => r.status)).toEqual([1, 1]);
  });

  it('behavior: the check runs on the block overlay: an attestation earlier in the block admits the sender, a revocation earlier in the block refuses it', async () => {
    const attest = await tx(issuer, IDENTITY_ADDRESS, identityData('attest', [newcomer.address, KYC, 0n, key(77)]));
    const send = await tx(newcomer, RECORDS_ADDRESS, recordData(4));
    const admitted = await execute([attest, send], 'verify');
    expect('invalid' in admitted ? admitted.invalid : admitted.receipts.map((r) => r.status)).toEqual([1, 1]);
    // Reversed, the same block is invalid: the attestation comes too late for the first transaction.
    const reversed = await execute([send, attest], 'verify');
    expect('invalid' in reversed && reversed.invalid).toMatch(/^transaction 0 is refused by the account policy: .*has none/);

    await commit([attest]);
    expect(senderPolicyRefusal(committedRead, hexToBytes(newcomer.address), timeMs)).toBeUndefined();
    const revoke = await tx(issuer, IDENTITY_ADDRESS, identityData('revokeAttestation', [newcomer.address, KYC]));
    const after = await tx(newcomer, RECORDS_ADDRESS, recordData(5));
    const revoked = await execute([revoke, after], 'verify');
    expect('invalid' in revoked && revoked.invalid).toMatch(
      /^transaction 1 is refused by the account policy: .*has one that was revoked/,
    );
    const built = await execute([revoke, after], 'build');
    expect('included' in built && built.included).toEqual([revoke]);
  });

  it('behavior: an attestation that expired at the block time no longer counts', async () => {
    const expiresAtMs = BigInt(timeMs + 5_000);
    await commit([await tx(issuer, IDENTITY_ADDRESS, identityData('attest', [other.address, KYC, expiresAtMs, key(78)]))]);
    const send = await tx(other, RECORDS_ADDRESS, recordData(6));
    const before = await execute([send], 'verify', Number(expiresAtMs) - 1);
    expect('invalid' in before ? before.invalid : before.receipts.map((r) => r.status)).toEqual([1]);
    const at = await execute([send], 'verify', Number(expiresAtMs));
    expect('invalid' in at && at.invalid).toMatch(
      new RegExp(`has one that expired at ${new Date(Number(expiresAtMs)).toISOString().replace(/\./g, '\\.')}`),
    );
  });

  it('behavior: a required role is checked the same way, and a policy of zeros admits everyone', async () => {
    const member = IDENTITY_ROLES.member;
    await commit([await tx(owner, IDENTITY_ADDRESS, identityData('setPolicy', [member, ZERO32]))]);
    const send = await tx(other, RECORDS_ADDRESS, recordData(7));
    const refused = await execute([send], 'verify');
    expect('invalid' in refused && refused.invalid).toMatch(
      /requires the role 'member' of every sender, and 0x[0-9a-f]{40} does not have it/,
    );
    const grant = await tx(owner, IDENTITY_ADDRESS, identityData('grantRole', [other.address, member]));
    const granted = await execute([grant, send], 'verify');
    expect('invalid' in granted ? granted.invalid : granted.receipts.map((r) => r.status)).toEqual([1, 1]);
    await commit([await tx(owner, IDENTITY_ADDRESS, identityData('setPolicy', [ZERO32, ZERO32]))]);
    const open = await execute([await tx(newcomer, RECORDS_ADDRESS, recordData(8))], 'verify');
    expect('invalid' in open ? open.invalid : open.receipts.map((r) => r.status)).toEqual([1]);
  });
});
