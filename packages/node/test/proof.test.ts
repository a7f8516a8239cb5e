/**
 * Proofs a client checks against a block header, over JSON-RPC: account and storage-slot proofs
 * against the header's stateRoot (`polis_getProof` for the binary SMT that ADR 0003 chose, and
 * `eth_getProof` for a node configured with the MPT), and receipt proofs against its
 * receiptsRoot (`polis_getReceiptProof`). Each must verify with the ledger's pure verifiers, and
 * fail after one tampered byte.
 */
import { bytesToHex, concatBytes, hexToBytes, keccak256, padBytes, readList, rlpDecode, verifyMerkleProof } from '@polis/core';
import { decodeHeader, encodeHeader, type StateProof, verifyStateProof } from '@polis/ledger';
import { type Contract, ContractFactory, type InterfaceAbi, JsonRpcProvider, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevNode, startDevNode } from './devNode.js';
import { compileTestToken, TEST_TOKEN_SLOTS } from './fixtures/compile.js';

const BOB = `0x${'b2'.repeat(20)}`;
type Hex = `0x${string}`;
type RpcBlock = { number: Hex; hash: Hex; stateRoot: Hex; receiptsRoot: Hex };

/** The storage slot of `balanceOf[holder]`: keccak256(pad32(holder) || pad32(slot)) (Solidity mappings). */
function balanceSlot(holder: string): Hex {
  const key = concatBytes(
    padBytes(hexToBytes(holder), 32),
    padBytes(hexToBytes(`0x${TEST_TOKEN_SLOTS.balanceOf.toString(16).padStart(2, '0')}`), 32),
  );
  return bytesToHex(keccak256(key));
}

/** Flips the lowest bit of byte `index` of a hex string (negative counts from the end). */
function flipByte(hex: string, index = 0): Hex {
  const bytes = hexToBytes(hex);
  const i = index < 0 ? bytes.length + index : index;
  bytes[i] = (bytes[i] as number) ^ 1;
  return bytesToHex(bytes);
}

function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

for (const commitment of ['smt', 'mpt'] as const) {
  const method = commitment === 'smt' ? 'polis_getProof' : 'eth_getProof';

  describe(`${commitment}: ${method} and polis_getReceiptProof`, () => {
    let dev: DevNode;
    let provider: JsonRpcProvider;
    let alice: Wallet;
    let token: Contract;
    let tokenAddress: string;
    let deployBlock: number;
    let transferHash: string;

    const block = (n: number | string): Promise<RpcBlock> =>
      provider.send('eth_getBlockByNumber', [typeof n === 'number' ? `0x${n.toString(16)}` : n, false]);

    /** Asks for a proof and returns it with the block it is for (the SMT proves the latest block and says which). */
    const prove = async (address: string, slots: string[]): Promise<{ proof: StateProof; header: RpcBlock }> => {
      if (commitment === 'smt') {
        const result = await provider.send(method, [address, slots, 'latest']);
        const header = await block(Number(result.blockNumber));
        expect(result.blockHash).toBe(header.hash);
        return { proof: { kind: 'smt', proof: result }, header };
      }
      const header = await block('latest');
      return { proof: { kind: 'mpt', proof: await provider.send(method, [address, slots, header.number]) }, header };
    };

    const valid = async (root: Hex, proof: StateProof) => verifyStateProof(hexToBytes(root), proof);

    beforeAll(async () => {
      const [node, compiled] = await Promise.all([startDevNode({ commitment }), compileTestToken()]);
      dev = node;
      provider = new JsonRpcProvider(dev.rpcUrl, dev.chainId, { staticNetwork: true, pollingInterval: 20, cacheTimeout: -1 });
      alice = new Wallet(dev.accounts[0]?.privateKey as string, provider);
      const deployed = await new ContractFactory(compiled.abi as InterfaceAbi, compiled.bytecode, alice).deploy(1_000_000n);
      deployBlock = (await deployed.deploymentTransaction()?.wait())?.blockNumber as number;
      token = deployed as Contract;
      tokenAddress = await token.getAddress();
      const receipt = await (await token.getFunction('transfer')(BOB, 777n)).wait();
      transferHash = receipt?.hash as string;
    });

    afterAll(async () => {
      provider?.destroy();
      await dev?.close();
    });

    it('default: an account proof verifies against the stateRoot of its block; one tampered byte fails it', async () => {
      const { proof, header } = await prove(alice.address, []);
      expect(await valid(header.stateRoot, proof)).toEqual({ valid: true });
      expect(proof.proof.nonce).toBe(`0x${(await provider.getTransactionCount(alice.address)).toString(16)}`);

      const tampered = clone(proof);
      if (tampered.kind === 'smt') {
        expect(tampered.proof.accountProof.siblings.length, 'the tree has more than one leaf').toBeGreaterThan(0);
        tampered.proof.accountProof.siblings[0] = flipByte(tampered.proof.accountProof.siblings[0] as string, 31);
      } else {
        const last = tampered.proof.accountProof.length - 1;
        tampered.proof.accountProof[last] = flipByte(tampered.proof.accountProof[last] as string, -1);
      }
      expect((await valid(header.stateRoot, tampered)).valid).toBe(false);
      // A claimed field that differs from the proven one fails too.
      const lying = clone(proof);
      lying.proof.nonce = '0x63';
      expect((await valid(header.stateRoot, lying)).valid).toBe(false);
    });

    it('default: a contract with a storage-slot proof verifies; one tampered byte of the slot proof fails it', async () => {
      const slots = [balanceSlot(BOB), balanceSlot(alice.address), balanceSlot(`0x${'0c'.repeat(20)}`)];
      const { proof, header } = await prove(tokenAddress, slots);
      expect(await valid(header.stateRoot, proof)).toEqual({ valid: true });
      const values = proof.proof.storageProof.map((s) => BigInt(s.value));
      expect(values).toEqual([777n, 1_000_000n - 777n, 0n]);
      for (const [i, slot] of slots.entries()) {
        expect(BigInt(await provider.getStorage(tokenAddress, slot)), `slot ${i}`).toBe(values[i]);
      }

      const tampered = clone(proof);
      if (tampered.kind === 'smt') {
        const path = tampered.proof.storageProof[0]?.proof;
        expect(path?.siblings.length).toBeGreaterThan(0);
        if (path) path.siblings[path.siblings.length - 1] = flipByte(path.siblings[path.siblings.length - 1] as string, 0);
      } else {
        const nodes = tampered.proof.storageProof[0]?.proof as string[];
        nodes[0] = flipByte(nodes[0] as string, 5);
      }
      const verdict = await valid(header.stateRoot, tampered);
      expect(verdict.valid).toBe(false);
      expect(verdict.valid ? '' : verdict.reason).toMatch(/storage/);

      const lying = clone(proof);
      (lying.proof.storageProof[0] as { value: string }).value = '0x30a'; // 778
      expect((await valid(header.stateRoot, lying)).valid).toBe(false);
    });

    it('behavior: a proof does not verify against another block’s stateRoot', async () => {
      const { proof } = await prove(tokenAddress, [balanceSlot(BOB)]);
      const before = await block(deployBlock);
      expect((await valid(before.stateRoot, proof)).valid).toBe(false);
    });

    it('behavior: the proof of an older block is served or refused according to the commitment', async () => {
      const at = `0x${deployBlock.toString(16)}`;
      if (commitment === 'mpt') {
        // The MPT keeps every root's nodes: the proof of the deploy block shows no transfer yet.
        const proof: StateProof = { kind: 'mpt', proof: await provider.send(method, [tokenAddress, [balanceSlot(BOB)], at]) };
        expect(await valid((await block(deployBlock)).stateRoot, proof)).toEqual({ valid: true });
        expect(proof.proof.storageProof[0]?.value).toBe('0x0');
      } else {
        // ADR 0003: the SMT is one tree, overwritten in place; only the latest block is provable.
        await expect(provider.send(method, [tokenAddress, [], at])).rejects.toMatchObject({ error: { code: -32000 } });
      }
      const other = commitment === 'smt' ? 'eth_getProof' : 'polis_getProof';
      await expect(provider.send(other, [tokenAddress, [], 'latest'])).rejects.toMatchObject({
        error: { code: -32601, message: expect.stringContaining(method) },
      });
    });

    it('default: a receipt proof verifies against the receiptsRoot of its certified header; one tampered byte fails it', async () => {
      const rp = await provider.send('polis_getReceiptProof', [transferHash]);
      const header = await block(Number(rp.blockNumber));
      const receipt = await provider.send('eth_getTransactionReceipt', [transferHash]);
      // The header is the one the block hash (which consensus certifies) commits to.
      expect(bytesToHex(keccak256(hexToBytes(rp.headerRlp)))).toBe(header.hash);
      expect(rp.blockHash).toBe(header.hash);
      const decoded = decodeHeader(hexToBytes(rp.headerRlp));
      expect(bytesToHex(decoded.receiptsRoot)).toBe(header.receiptsRoot);
      expect(bytesToHex(decoded.stateRoot)).toBe(header.stateRoot);
      const fromFields = encodeHeader({
        ...decoded,
        chainId: BigInt(rp.header.chainId),
        height: Number(rp.header.height),
        time: Number(rp.header.time),
        gasUsed: BigInt(rp.header.gasUsed),
        gasLimit: BigInt(rp.header.gasLimit),
        ledgerId: hexToBytes(rp.header.ledgerId),
        receiptsRoot: hexToBytes(rp.header.receiptsRoot),
        stateRoot: hexToBytes(rp.header.stateRoot),
      });
      expect(bytesToHex(fromFields)).toBe(rp.headerRlp);

      const root = hexToBytes(header.receiptsRoot);
      const leaf = hexToBytes(rp.receipt);
      const index = Number(rp.index);
      const count = Number(rp.count);
      const path = (rp.proof as string[]).map((x) => hexToBytes(x));
      expect(index).toBe(Number(receipt.transactionIndex));
      expect(verifyMerkleProof(root, leaf, index, count, path)).toBe(true);
      // The leaf is the receipt's Ethereum encoding: [type ||] rlp([status, cumulativeGasUsed, logsBloom, logs]),
      // with no type byte for a legacy transaction (EIP-2718).
      const type = Number(receipt.type);
      if (type !== 0) expect(leaf[0]).toBe(type);
      const [status, cumulative, bloom, logs] = readList(rlpDecode(type === 0 ? leaf : leaf.subarray(1)), 'receipt', 4);
      expect(bytesToHex(status as Uint8Array)).toBe('0x01');
      expect(BigInt(bytesToHex(cumulative as Uint8Array))).toBe(BigInt(receipt.cumulativeGasUsed));
      expect(bytesToHex(bloom as Uint8Array)).toBe(receipt.logsBloom);
      expect((logs as unknown[]).length).toBe(receipt.logs.length);

      expect(verifyMerkleProof(root, hexToBytes(flipByte(rp.receipt, -1)), index, count, path)).toBe(false);
      if (path.length > 0) {
        const bad = path.map((p, i) => (i === 0 ? hexToBytes(flipByte(bytesToHex(p), 0)) : p));
        expect(verifyMerkleProof(root, leaf, index, count, bad)).toBe(false);
      }
      expect(verifyMerkleProof(hexToBytes(flipByte(header.receiptsRoot, 7)), leaf, index, count, path)).toBe(false);
      expect(await provider.send('polis_getReceiptProof', [`0x${'ab'.repeat(32)}`])).toBeNull();
    });

    it('behavior: receipt proofs of every transaction in a block with several verify', async () => {
      // Several senders in one block, so the audit paths are not empty.
      const senders = Array.from(
        { length: 5 },
        (_, i) => new Wallet(`0x${(0x5000 + i).toString(16).padStart(64, '0')}`, provider),
      );
      const raws = await Promise.all(
        senders.map((w) =>
          w.signTransaction({
            type: 2,
            chainId: dev.chainId,
            nonce: 0,
            to: BOB,
            gasLimit: 21_000n,
            maxFeePerGas: 0n,
            maxPriorityFeePerGas: 0n,
          }),
        ),
      );
      const hashes = (
        await provider._send(
          raws.map((raw, i) => ({ jsonrpc: '2.0' as const, id: i, method: 'eth_sendRawTransaction', params: [raw] })),
        )
      ).map((r) => (r as { result: string }).result);
      for (const hash of hashes) await provider.waitForTransaction(hash);
      let multi = 0;
      for (const hash of hashes) {
        const rp = await provider.send('polis_getReceiptProof', [hash]);
        const header = await block(Number(rp.blockNumber));
        if (Number(rp.count) > 1) multi++;
        const ok = verifyMerkleProof(
          hexToBytes(header.receiptsRoot),
          hexToBytes(rp.receipt),
          Number(rp.index),
          Number(rp.count),
          (rp.proof as string[]).map((x) => hexToBytes(x)),
        );
        expect(ok, `${hash} (index ${rp.index} of ${rp.count})`).toBe(true);
      }
      expect(multi, 'some block held more than one of the transactions').toBeGreaterThan(0);
    });
  });
}
