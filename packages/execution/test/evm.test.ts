import { Common, Hardfork, Mainnet } from '@ethereumjs/common';
import { createEVM, type EVM } from '@ethereumjs/evm';
import { Address } from '@ethereumjs/util';
import { bytesToBigInt, bytesToHex, concatBytes, hexToBytes } from '@polis/core';
import { verifyStateProof } from '@polis/ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  balanceSlot,
  type CompiledContract,
  compileContract,
  ERC20_SOURCE,
  encodeArgs,
  encodeCall,
  NESTED_SOURCE,
} from '../bench/erc20.js';
import { commitBlockState } from '../src/index.js';
import { type Fixture, openFixture } from './helpers.js';

let token: CompiledContract;
let nested: CompiledContract;
let factoryContract: CompiledContract;
beforeAll(() => {
  token = compileContract(ERC20_SOURCE, 'Token');
  nested = compileContract(NESTED_SOURCE, 'Nested');
  factoryContract = compileContract(NESTED_SOURCE, 'Factory');
});

const deployer = new Address(new Uint8Array(20).fill(0xd0));
const alice = new Address(new Uint8Array(20).fill(0xa1));
const bob = new Address(new Uint8Array(20).fill(0xb0));

async function newEVM(f: Fixture): Promise<EVM> {
  return createEVM({ common: new Common({ chain: Mainnet, hardfork: Hardfork.Prague }), stateManager: f.state });
}

/** Runs one call as a transaction would: a fresh original-storage view, then the journal's cleanup. */
async function call(evm: EVM, f: Fixture, caller: Address, to: Address | undefined, data: Uint8Array) {
  f.state.originalStorageCache.clear();
  const result = await evm.runCall({ caller, ...(to ? { to } : {}), data, gasLimit: 5_000_000n });
  await evm.journal.cleanup();
  expect(f.state.checkpointDepth, 'every checkpoint is closed after a call').toBe(0);
  return result;
}

async function read(evm: EVM, f: Fixture, to: Address, signature: string, args: (Uint8Array | bigint)[] = []): Promise<bigint> {
  const result = await call(evm, f, deployer, to, encodeCall(signature, args));
  expect(result.execResult.exceptionError, `${signature} should not fail`).toBeUndefined();
  return bytesToBigInt(result.execResult.returnValue);
}

/** What @ethereumjs/vm's runTx does after a call: delete the self-destructed accounts that the transaction created (EIP-6780). */
async function deleteSelfDestructed(f: Fixture, result: { selfdestruct?: Map<string, string>; createdAddresses?: Set<string> }) {
  for (const address of [...(result.selfdestruct?.keys() ?? [])].sort()) {
    if (result.createdAddresses?.has(address)) await f.state.deleteAccount(new Address(hexToBytes(address)));
  }
}

function nextHeight(f: Fixture): number {
  return (f.store.head?.height ?? -1) + 1;
}

async function deploy(evm: EVM, f: Fixture, contract: CompiledContract, args: bigint[] = []): Promise<Address> {
  const result = await call(evm, f, deployer, undefined, concatBytes(contract.bytecode, encodeArgs(args)));
  expect(result.execResult.exceptionError, 'deployment').toBeUndefined();
  return result.createdAddress as Address;
}

describe.each(['mpt', 'smt'] as const)('EVM over the journaled state (%s)', (kind) => {
  let f: Fixture;
  let evm: EVM;
  beforeAll(async () => {
    f = await openFixture(kind);
    evm = await newEVM(f);
  });
  afterAll(async () => {
    await f.close();
  });

  it('default: deploys an ERC-20, transfers, and commits the block with a provable balance', async () => {
    const tokenAddress = await deploy(evm, f, token, [1_000_000n]);
    expect((await f.state.getCode(tokenAddress)).length).toBe(token.deployedBytecode.length);
    const transfer = await call(evm, f, deployer, tokenAddress, encodeCall('transfer(address,uint256)', [alice.bytes, 250n]));
    expect(transfer.execResult.exceptionError).toBeUndefined();
    expect(bytesToBigInt(transfer.execResult.returnValue)).toBe(1n);
    expect(transfer.execResult.logs?.length, 'a Transfer event').toBe(1);
    expect(await read(evm, f, tokenAddress, 'balanceOf(address)', [alice.bytes])).toBe(250n);
    expect(await read(evm, f, tokenAddress, 'balanceOf(address)', [deployer.bytes])).toBe(999_750n);

    const { head } = await commitBlockState(f.store, f.state, { height: 0 });
    // After the block, reads come from LMDB and still agree.
    expect(await read(evm, f, tokenAddress, 'balanceOf(address)', [alice.bytes])).toBe(250n);
    expect(f.store.getStorage(tokenAddress.bytes, balanceSlot(alice.bytes))).toEqual(new Uint8Array([250]));
    expect(f.store.getCode((await f.state.getAccount(tokenAddress))?.codeHash as Uint8Array)).toEqual(token.deployedBytecode);
    f.state.reset();

    const proof = await f.store.prove(tokenAddress.bytes, [balanceSlot(alice.bytes)]);
    expect(BigInt(proof.proof.storageProof[0]?.value as string)).toBe(250n);
    expect(await verifyStateProof(head.stateRoot, proof)).toEqual({ valid: true });
  });

  it('behavior: a reverted transfer rolls back its state; only the nonce moves', async () => {
    const tokenAddress = await deploy(evm, f, token, [100n]);
    const before = await f.state.getAccount(alice);
    const beforeNonce = before?.nonce ?? 0n;
    await call(evm, f, deployer, tokenAddress, encodeCall('transfer(address,uint256)', [alice.bytes, 10n]));
    const result = await call(evm, f, alice, tokenAddress, encodeCall('transfer(address,uint256)', [bob.bytes, 11n]));
    expect(result.execResult.exceptionError?.error).toBe('revert');
    expect(await read(evm, f, tokenAddress, 'balanceOf(address)', [alice.bytes])).toBe(10n);
    expect(await read(evm, f, tokenAddress, 'balanceOf(address)', [bob.bytes])).toBe(0n);
    // The sender's nonce is bumped before the call's checkpoint opens, as in Ethereum.
    expect((await f.state.getAccount(alice))?.nonce).toBe(beforeNonce + 1n);
    const writes = f.state.writeSet();
    const bobSlot = bytesToHex(balanceSlot(bob.bytes));
    expect(
      writes.storage.some((w) => bytesToHex(w.slot) === bobSlot),
      'no write to bob survives',
    ).toBe(false);
  });

  it('behavior: a reverted inner call keeps the outer frame and drops the inner frames, nested two deep', async () => {
    const address = await deploy(evm, f, nested);
    for (const [v, a, b, c] of [
      [7n, 7n, 7n, 8n],
      [13n, 13n, 7n, 8n],
      [21n, 21n, 21n, 22n],
    ] as const) {
      const result = await call(evm, f, deployer, address, encodeCall('outer(uint256)', [v]));
      expect(result.execResult.exceptionError, `outer(${v})`).toBeUndefined();
      expect(await read(evm, f, address, 'a()'), `a after outer(${v})`).toBe(a);
      expect(await read(evm, f, address, 'b()'), `b after outer(${v})`).toBe(b);
      expect(await read(evm, f, address, 'c()'), `c after outer(${v})`).toBe(c);
    }
  });

  it('behavior: SELFDESTRUCT keeps a contract created in an earlier transaction (EIP-6780)', async () => {
    const address = await deploy(evm, f, nested);
    await call(evm, f, deployer, address, encodeCall('outer(uint256)', [3n]));
    const result = await call(evm, f, deployer, address, encodeCall('destroyable()'));
    expect(result.execResult.exceptionError).toBeUndefined();
    await deleteSelfDestructed(f, result.execResult);
    expect(await read(evm, f, address, 'a()')).toBe(3n);
    await commitBlockState(f.store, f.state, { height: nextHeight(f) });
    expect(f.store.getStorage(address.bytes, new Uint8Array(32))).toEqual(new Uint8Array([3]));
  });

  it('behavior: a contract created and destroyed in one transaction leaves no account and no storage', async () => {
    const factory = await deploy(evm, f, factoryContract);
    const result = await call(evm, f, deployer, factory, encodeCall('createAndDestroy()'));
    expect(result.execResult.exceptionError).toBeUndefined();
    const child = new Address(result.execResult.returnValue.subarray(12));
    expect(await f.state.getStorage(child, new Uint8Array(32)), 'x = 5 before the end of the transaction').toEqual(
      new Uint8Array([5]),
    );
    await deleteSelfDestructed(f, result.execResult);
    expect(await f.state.getAccount(child)).toBeUndefined();
    expect(f.state.writeSet().storageCleared.map((a) => bytesToHex(a))).toContain(child.toString());
    await commitBlockState(f.store, f.state, { height: nextHeight(f) });
    expect(f.store.getAccount(child.bytes)).toBeUndefined();
    expect([...f.store.storageSlots(child.bytes)]).toEqual([]);
    expect(await verifyStateProof(f.store.stateRoot, await f.store.prove(child.bytes, [new Uint8Array(32)]))).toEqual({
      valid: true,
    });
  });
});
