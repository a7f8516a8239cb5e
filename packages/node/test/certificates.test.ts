/**
 * The certificates service through ethers against a real node: collections of unique tokens
 * (ERC-721-shaped) and of amounts (ERC-1155-shaped), every operation and its events read with the
 * standard ERC-721 / ERC-1155 event interfaces at the collection's address, lookup by owner (also
 * against a model over a seeded run of mints, transfers and burns), the policy refusals (frozen,
 * not transferable, issuer only, unique amounts, bounds), a contract as issuer and holder, and the
 * published Solidity interface matching the ABI.
 */

import { bytesToHex } from '@polis/core';
import {
  CERTIFICATE_NAME_BYTES_MAX,
  CERTIFICATE_SYMBOL_BYTES_MAX,
  CERTIFICATE_URI_BYTES_MAX,
  CERTIFICATES_ABI,
  CERTIFICATES_ADDRESS,
  collectionAddress,
} from '@polis/execution';
import {
  Contract,
  ContractFactory,
  concat,
  keccak256 as ethersKeccak,
  getAddress,
  id as hashText,
  Interface,
  type InterfaceAbi,
  JsonRpcProvider,
  type Log,
  type TransactionReceipt,
  toBeHex,
  toUtf8Bytes,
  Wallet,
  ZeroAddress,
  ZeroHash,
} from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevNode, startDevNode } from './devNode.js';
import { compileFixture } from './fixtures/compile.js';

const address = getAddress(bytesToHex(CERTIFICATES_ADDRESS));

// The events of the standards as the EIPs publish them: wallets and indexers parse with these.
const ERC721 = new Interface([
  'event Transfer(address indexed from, address indexed to, uint256 indexed tokenId)',
  'event Approval(address indexed owner, address indexed approved, uint256 indexed tokenId)',
  'event ApprovalForAll(address indexed owner, address indexed operator, bool approved)',
]);
const ERC1155 = new Interface([
  'event TransferSingle(address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value)',
  'event TransferBatch(address indexed operator, address indexed from, address indexed to, uint256[] ids, uint256[] values)',
  'event ApprovalForAll(address indexed account, address indexed operator, bool approved)',
  'event URI(string value, uint256 indexed id)',
]);

const UNIQUE = 0;
const AMOUNTS = 1;

let dev: DevNode;
let provider: JsonRpcProvider;
let alice: Wallet;
let bob: Wallet;
let carol: Wallet;
let certs: Contract;

beforeAll(async () => {
  dev = await startDevNode({ heartbeatMs: 200 });
  provider = new JsonRpcProvider(dev.rpcUrl, dev.chainId, { staticNetwork: true, pollingInterval: 20, cacheTimeout: -1 });
  [alice, bob, carol] = [0, 1, 2].map((i) => new Wallet(dev.accounts[i]?.privateKey as string, provider)) as [
    Wallet,
    Wallet,
    Wallet,
  ];
  certs = new Contract(address, CERTIFICATES_ABI as InterfaceAbi, alice);
});

afterAll(async () => {
  await dev?.close();
});

/** The service as `w`. */
const as = (w: Wallet) => certs.connect(w) as Contract;

/** Sends `fn(args)` as `w` and waits for a successful receipt. */
async function send(w: Wallet, fn: string, ...args: unknown[]): Promise<TransactionReceipt> {
  const receipt = await (await as(w).getFunction(fn)(...args)).wait();
  if (receipt?.status !== 1) throw new Error(`${fn} did not succeed`);
  return receipt;
}

/** Reads a view. */
async function view<T = unknown>(fn: string, ...args: unknown[]): Promise<T> {
  return (await certs.getFunction(fn)(...args)) as T;
}

/** The reason a call as `w` reverts with (through `eth_call`); fails when it does not revert. */
async function refusal(w: Wallet, fn: string, ...args: unknown[]): Promise<string> {
  try {
    await as(w)
      .getFunction(fn)
      .staticCall(...args);
  } catch (err) {
    return (err as { reason?: string }).reason ?? String(err);
  }
  throw new Error(`${fn}(${args.join(', ')}) did not revert`);
}

/** The collection address, derived here independently of the service's code. */
const derivedAddress = (id: bigint) =>
  getAddress(`0x${ethersKeccak(concat([toUtf8Bytes('polis-collection'), toBeHex(id, 32)])).slice(26)}`);

type Created = { id: bigint; at: string; receipt: TransactionReceipt };

async function create(w: Wallet, name: string, symbol: string, kind: number, transferable: boolean): Promise<Created> {
  const receipt = await send(w, 'createCollection', name, symbol, kind, transferable);
  const log = receipt.logs.map((l) => certs.interface.parseLog(l)).find((p) => p?.name === 'CollectionCreated');
  if (!log) throw new Error('no CollectionCreated log');
  return { id: log.args.collectionId as bigint, at: log.args.collectionAddress as string, receipt };
}

/** The logs of a receipt as [address, event name, ...args], parsed with `iface`. */
function events(receipt: TransactionReceipt, iface: Interface): unknown[][] {
  return receipt.logs.map((l: Log) => {
    const p = iface.parseLog(l);
    return [l.address, p?.name, ...(p?.args.toArray() ?? [])];
  });
}

/** The distinct token ids `holder` has in a collection, by tokenCount + tokenOfOwnerByIndex, sorted. */
async function owned(collection: bigint, holder: string): Promise<bigint[]> {
  const n = await view<bigint>('tokenCount', collection, holder);
  const ids: bigint[] = [];
  for (let i = 0n; i < n; i++) ids.push(await view<bigint>('tokenOfOwnerByIndex', collection, holder, i));
  return ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

const supplyOf = async (collection: bigint) => (await view<unknown[]>('collection', collection))[6] as bigint;
const docHash = (text: string) => hashText(text);

describe('certificates service', () => {
  it('default: a collection has an id, a derived address and its caller as issuer; CollectionCreated comes from the service', async () => {
    const before = await view<bigint>('collectionCount');
    // The return values, as a contract calling it would get them.
    const [nextId, nextAt] = await certs.getFunction('createCollection').staticCall('Diplomas', 'DIP', UNIQUE, true);
    expect([nextId, nextAt]).toEqual([before + 1n, derivedAddress(before + 1n)]);
    const { id, at, receipt } = await create(alice, 'Diplomas', 'DIP', UNIQUE, true);
    expect(id).toBe(before + 1n);
    expect(at).toBe(derivedAddress(id));
    expect(at).toBe(getAddress(bytesToHex(collectionAddress(id))));
    expect(events(receipt, certs.interface)).toEqual([
      [address, 'CollectionCreated', id, alice.address, at, BigInt(UNIQUE), true, 'Diplomas', 'DIP'],
    ]);
    expect((await view<{ toArray(): unknown[] }>('collection', id)).toArray()).toEqual([
      'Diplomas',
      'DIP',
      BigInt(UNIQUE),
      true,
      alice.address,
      at,
      0n,
    ]);
    expect(await view('collectionCount')).toBe(id);
    expect(await view('collectionAt', at)).toBe(id);
    expect(await view('collectionAt', bob.address)).toBe(0n);
    // A second issuer's collection gets the next id and a different address.
    const other = await create(bob, 'Badges', '', AMOUNTS, false);
    expect(other.id).toBe(id + 1n);
    expect(other.at).not.toBe(at);
    expect((await view<unknown[]>('collection', other.id)).slice(0, 5)).toEqual([
      'Badges',
      '',
      BigInt(AMOUNTS),
      false,
      bob.address,
    ]);
  });

  it('default: unique tokens (kind 0) are minted, transferred and burned with ERC-721 Transfer logs from the collection address', async () => {
    const { id, at } = await create(alice, 'Degrees', 'DEG', UNIQUE, true);
    const first = await send(alice, 'mint', id, bob.address, 7n, 1n, 'ipfs://degree-7', docHash('degree 7'));
    expect(events(first, ERC721)).toEqual([[at, 'Transfer', ZeroAddress, bob.address, 7n]]);
    await send(alice, 'mint', id, bob.address, 8n, 1n, 'ipfs://degree-8', docHash('degree 8'));
    await send(alice, 'mint', id, carol.address, 9n, 1n, '', ZeroHash);

    expect(await view('ownerOf', id, 7n)).toBe(bob.address);
    expect(await view('tokenURI', id, 7n)).toBe('ipfs://degree-7');
    expect(await view('contentHash', id, 7n)).toBe(docHash('degree 7'));
    expect(await view('tokenURI', id, 9n)).toBe('');
    expect(await view('contentHash', id, 9n)).toBe(ZeroHash);
    expect(await view('isFrozen', id, 7n)).toBe(false);
    expect([await view('balanceOf', id, bob.address, 7n), await view('balanceOf', id, carol.address, 7n)]).toEqual([1n, 0n]);
    expect(await owned(id, bob.address)).toEqual([7n, 8n]);
    expect(await owned(id, carol.address)).toEqual([9n]);
    expect(await supplyOf(id)).toBe(3n);

    // Bob hands token 7 (the first of his list) on: his list keeps 8 only.
    const moved = await send(bob, 'transfer', id, carol.address, 7n, 1n);
    expect(events(moved, ERC721)).toEqual([[at, 'Transfer', bob.address, carol.address, 7n]]);
    expect(await view('ownerOf', id, 7n)).toBe(carol.address);
    expect(await owned(id, bob.address)).toEqual([8n]);
    expect(await owned(id, carol.address)).toEqual([7n, 9n]);

    // The holder burns one; the issuer burns one wherever it is (a revocation).
    const burned = await send(carol, 'burn', id, 9n, 1n);
    expect(events(burned, ERC721)).toEqual([[at, 'Transfer', carol.address, ZeroAddress, 9n]]);
    const revoked = await send(alice, 'burn', id, 8n, 1n);
    expect(events(revoked, ERC721)).toEqual([[at, 'Transfer', bob.address, ZeroAddress, 8n]]);
    expect(await owned(id, bob.address)).toEqual([]);
    expect(await owned(id, carol.address)).toEqual([7n]);
    expect(await supplyOf(id)).toBe(1n);
    expect(await refusal(alice, 'ownerOf', id, 9n)).toBe(`certificates: token 9 of collection ${id} was burned`);
    // A burned certificate stays readable, and its id is not issued again.
    expect(await view('tokenURI', id, 8n)).toBe('ipfs://degree-8');
    expect(await refusal(alice, 'mint', id, bob.address, 8n, 1n, '', ZeroHash)).toBe(
      `certificates: token 8 of collection ${id} was already issued; a unique token id is issued once`,
    );

    // An indexer filtering ERC-721 Transfer at the collection address sees the whole history.
    const history = await new Contract(at, ERC721, provider).queryFilter('Transfer', first.blockNumber);
    expect(history.map((l) => (l as unknown as { args: { toArray(): unknown[] } }).args.toArray())).toEqual([
      [ZeroAddress, bob.address, 7n],
      [ZeroAddress, bob.address, 8n],
      [ZeroAddress, carol.address, 9n],
      [bob.address, carol.address, 7n],
      [carol.address, ZeroAddress, 9n],
      [bob.address, ZeroAddress, 8n],
    ]);
  });

  it('default: amounts (kind 1) are minted, transferred and burned with ERC-1155 TransferSingle and URI logs from the collection address', async () => {
    const { id, at } = await create(alice, 'Training credits', 'CRED', AMOUNTS, true);
    const first = await send(alice, 'mint', id, bob.address, 1n, 10n, 'ipfs://credit-1', docHash('credit 1'));
    expect(events(first, ERC1155)).toEqual([
      [at, 'TransferSingle', alice.address, ZeroAddress, bob.address, 1n, 10n],
      [at, 'URI', 'ipfs://credit-1', 1n],
    ]);
    // More units of an issued id: the same URI and hash, or none; no second URI log.
    const more = await send(alice, 'mint', id, carol.address, 1n, 5n, '', ZeroHash);
    expect(events(more, ERC1155)).toEqual([[at, 'TransferSingle', alice.address, ZeroAddress, carol.address, 1n, 5n]]);
    await send(alice, 'mint', id, carol.address, 1n, 1n, 'ipfs://credit-1', docHash('credit 1'));
    expect(await refusal(alice, 'mint', id, carol.address, 1n, 1n, 'ipfs://other', ZeroHash)).toBe(
      `certificates: token 1 of collection ${id} already has another URI; pass the same URI or an empty one`,
    );
    expect(await refusal(alice, 'mint', id, carol.address, 1n, 1n, '', docHash('other'))).toBe(
      `certificates: token 1 of collection ${id} has content hash ${docHash('credit 1')}; pass it or zero`,
    );
    await send(alice, 'mint', id, bob.address, 2n, 3n, 'ipfs://credit-2', docHash('credit 2'));

    expect(await view('balanceOf', id, bob.address, 1n)).toBe(10n);
    expect(await view('balanceOf', id, carol.address, 1n)).toBe(6n);
    expect(await view('tokenURI', id, 1n)).toBe('ipfs://credit-1');
    expect(await view('contentHash', id, 2n)).toBe(docHash('credit 2'));
    expect(await owned(id, bob.address)).toEqual([1n, 2n]);
    expect(await owned(id, carol.address)).toEqual([1n]);
    expect(await supplyOf(id)).toBe(19n);
    expect(await refusal(alice, 'ownerOf', id, 1n)).toBe(
      `certificates: collection ${id} holds amounts (kind 1), so a token has no single owner; use balanceOf`,
    );

    const part = await send(bob, 'transfer', id, carol.address, 1n, 4n);
    expect(events(part, ERC1155)).toEqual([[at, 'TransferSingle', bob.address, bob.address, carol.address, 1n, 4n]]);
    expect([await view('balanceOf', id, bob.address, 1n), await view('balanceOf', id, carol.address, 1n)]).toEqual([6n, 10n]);
    expect(await owned(id, bob.address)).toEqual([1n, 2n]);
    // Bob parts with all of id 2 (the last of his list), then all of id 1 (now the only one).
    await send(bob, 'transfer', id, carol.address, 2n, 3n);
    expect(await owned(id, bob.address)).toEqual([1n]);
    expect(await owned(id, carol.address)).toEqual([1n, 2n]);
    await send(bob, 'transfer', id, carol.address, 1n, 6n);
    expect(await owned(id, bob.address)).toEqual([]);
    expect(await refusal(bob, 'transfer', id, carol.address, 1n, 1n)).toBe(
      `certificates: ${bob.address} holds 0 of token 1 of collection ${id}, less than 1`,
    );
    expect(await refusal(carol, 'transfer', id, bob.address, 1n, 17n)).toBe(
      `certificates: ${carol.address} holds 16 of token 1 of collection ${id}, less than 17`,
    );

    // The holder burns part; the issuer burns from a holder (a revocation).
    const burned = await send(carol, 'burn', id, 1n, 2n);
    expect(events(burned, ERC1155)).toEqual([[at, 'TransferSingle', carol.address, carol.address, ZeroAddress, 1n, 2n]]);
    const revoked = await send(alice, 'burnFrom', id, carol.address, 2n, 3n);
    expect(events(revoked, ERC1155)).toEqual([[at, 'TransferSingle', alice.address, carol.address, ZeroAddress, 2n, 3n]]);
    expect(await owned(id, carol.address)).toEqual([1n]);
    expect(await view('balanceOf', id, carol.address, 1n)).toBe(14n);
    expect(await supplyOf(id)).toBe(14n);
  });

  it('behavior: lookup by owner matches a model over a seeded run of mints, transfers (also to oneself) and burns', async () => {
    const seed = Number(process.env.POLIS_SEED ?? 7);
    let state = seed >>> 0;
    // mulberry32: small, seeded, and enough to pick operations.
    const random = () => {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
    };
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
    const wallets = [alice, bob, carol];
    const unique = await create(alice, 'Model unique', 'MU', UNIQUE, true);
    const amounts = await create(alice, 'Model amounts', 'MA', AMOUNTS, true);
    // model[collection][holder][tokenId] = amount
    const model = new Map<bigint, Map<string, Map<bigint, bigint>>>(
      [unique.id, amounts.id].map((c) => [c, new Map(wallets.map((w) => [w.address, new Map()]))]),
    );
    const held = (c: bigint, h: string) => model.get(c)?.get(h) as Map<bigint, bigint>;
    const add = (c: bigint, h: string, t: bigint, v: bigint) => {
      const m = held(c, h);
      const next = (m.get(t) ?? 0n) + v;
      if (next === 0n) m.delete(t);
      else m.set(t, next);
    };
    let nextUnique = 1n;
    const seen = new Set<string>();
    const steps = 40;
    for (let step = 0; step < steps; step++) {
      const c = pick([unique.id, amounts.id]);
      const holdings = wallets.flatMap((w) => [...held(c, w.address)].map(([t, v]) => ({ w, t, v })));
      const op = holdings.length === 0 ? 'mint' : pick(['mint', 'transfer', 'transfer', 'burn', 'revoke'] as const);
      const what = `seed=${seed} step ${step}: ${op} in collection ${c}`;
      let kind: string = op;
      if (op === 'mint') {
        const to = pick(wallets);
        const t = c === unique.id ? nextUnique++ : BigInt(1 + Math.floor(random() * 4));
        const v = c === unique.id ? 1n : BigInt(1 + Math.floor(random() * 5));
        await send(alice, 'mint', c, to.address, t, v, '', ZeroHash);
        add(c, to.address, t, v);
      } else {
        const { w, t, v } = pick(holdings);
        const amount = c === unique.id ? 1n : BigInt(1 + Math.floor(random() * Number(v)));
        if (op === 'transfer') {
          const to = pick(wallets);
          if (to === w) kind = 'transfer to oneself';
          await send(w, 'transfer', c, to.address, t, amount);
          add(c, w.address, t, -amount);
          add(c, to.address, t, amount);
        } else if (op === 'burn') {
          await send(w, 'burn', c, t, amount);
          add(c, w.address, t, -amount);
        } else {
          await send(alice, 'burnFrom', c, w.address, t, amount);
          add(c, w.address, t, -amount);
        }
      }
      seen.add(kind);
      // Read every holder's list, balances and the supplies at once, then compare with the model.
      const checks = [...model].flatMap(([coll, holders]) => {
        const supply = [...holders.values()].flatMap((m) => [...m.values()]).reduce((x, y) => x + y, 0n);
        return [
          supplyOf(coll).then((got) => expect(got, `${what}: the supply of ${coll}`).toBe(supply)),
          ...[...holders].flatMap(([h, m]) => [
            owned(coll, h).then((got) =>
              expect(got, `${what}: the ids ${h} holds in ${coll}`).toEqual(
                [...m.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
              ),
            ),
            ...[...m].map(([t, v]) =>
              view('balanceOf', coll, h, t).then((got) => expect(got, `${what}: ${h}'s balance of ${t} in ${coll}`).toBe(v)),
            ),
          ]),
        ];
      });
      await Promise.all(checks);
    }
    // The run went through every path, the swap-and-pop removals among them.
    expect([...seen].sort(), `seed=${seed}: the operations the run made`).toEqual([
      'burn',
      'mint',
      'revoke',
      'transfer',
      'transfer to oneself',
    ]);
  });

  it('error: a frozen certificate cannot move or be burned by its holder; the issuer unfreezes or revokes it', async () => {
    const { id, at } = await create(alice, 'Permits', 'PRM', UNIQUE, true);
    await send(alice, 'mint', id, bob.address, 1n, 1n, '', ZeroHash);
    await send(alice, 'mint', id, bob.address, 2n, 1n, '', ZeroHash);
    expect(await refusal(bob, 'freeze', id, 1n)).toBe(
      `certificates: only the issuer of collection ${id} (${alice.address}) can freeze its tokens, not ${bob.address}`,
    );
    const frozen = await send(alice, 'freeze', id, 1n);
    expect(events(frozen, certs.interface)).toEqual([[at, 'Frozen', 1n]]);
    expect(await view('isFrozen', id, 1n)).toBe(true);
    expect(await refusal(alice, 'freeze', id, 1n)).toBe(`certificates: token 1 of collection ${id} is already frozen`);
    const movingFrozen = `certificates: token 1 of collection ${id} is frozen by its issuer; it cannot move until unfrozen`;
    expect(await refusal(bob, 'transfer', id, carol.address, 1n, 1n)).toBe(movingFrozen);
    expect(await refusal(bob, 'burn', id, 1n, 1n)).toBe(
      `certificates: token 1 of collection ${id} is frozen by its issuer; only the issuer can burn it`,
    );
    // Mined, the refused transfer reverts and changes nothing.
    const tx = await as(bob).getFunction('transfer')(id, carol.address, 1n, 1n, { gasLimit: 500_000n });
    await expect(tx.wait()).rejects.toThrow(/revert/);
    expect(await view('ownerOf', id, 1n)).toBe(bob.address);
    expect(await owned(id, bob.address)).toEqual([1n, 2n]);
    // Freezing is per token: token 2 still moves.
    await send(bob, 'transfer', id, carol.address, 2n, 1n);

    expect(await refusal(bob, 'unfreeze', id, 1n)).toBe(
      `certificates: only the issuer of collection ${id} (${alice.address}) can unfreeze its tokens, not ${bob.address}`,
    );
    const unfrozen = await send(alice, 'unfreeze', id, 1n);
    expect(events(unfrozen, certs.interface)).toEqual([[at, 'Unfrozen', 1n]]);
    expect(await refusal(alice, 'unfreeze', id, 1n)).toBe(`certificates: token 1 of collection ${id} is already unfrozen`);
    await send(bob, 'transfer', id, carol.address, 1n, 1n);
    expect(await view('ownerOf', id, 1n)).toBe(carol.address);

    // The issuer revokes a frozen certificate.
    await send(alice, 'freeze', id, 2n);
    await send(alice, 'burn', id, 2n, 1n);
    expect(await owned(id, carol.address)).toEqual([1n]);

    // Amounts: freezing a token id holds every holder's units of it.
    const credits = await create(alice, 'Frozen credits', 'FC', AMOUNTS, true);
    await send(alice, 'mint', credits.id, bob.address, 5n, 4n, '', ZeroHash);
    await send(alice, 'mint', credits.id, carol.address, 5n, 4n, '', ZeroHash);
    await send(alice, 'freeze', credits.id, 5n);
    for (const w of [bob, carol]) {
      expect(await refusal(w, 'transfer', credits.id, alice.address, 5n, 1n), w.address).toBe(
        `certificates: token 5 of collection ${credits.id} is frozen by its issuer; it cannot move until unfrozen`,
      );
    }
    await send(alice, 'burnFrom', credits.id, bob.address, 5n, 4n);
    expect(await view('balanceOf', credits.id, bob.address, 5n)).toBe(0n);
    expect(await supplyOf(credits.id)).toBe(4n);
  });

  it('error: a collection that is not transferable refuses every transfer, even by the issuer; holders may still burn', async () => {
    const licences = await create(alice, 'Licences', 'LIC', UNIQUE, false);
    await send(alice, 'mint', licences.id, bob.address, 1n, 1n, '', ZeroHash);
    await send(alice, 'mint', licences.id, alice.address, 2n, 1n, '', ZeroHash);
    const notTransferable = (c: bigint) =>
      `certificates: collection ${c} is not transferable: its certificates stay with the holder they were issued to`;
    expect(await refusal(bob, 'transfer', licences.id, carol.address, 1n, 1n)).toBe(notTransferable(licences.id));
    expect(await refusal(alice, 'transfer', licences.id, carol.address, 2n, 1n)).toBe(notTransferable(licences.id));
    const tx = await as(bob).getFunction('transfer')(licences.id, carol.address, 1n, 1n, { gasLimit: 500_000n });
    await expect(tx.wait()).rejects.toThrow(/revert/);
    expect(await view('ownerOf', licences.id, 1n)).toBe(bob.address);
    await send(bob, 'burn', licences.id, 1n, 1n);
    expect(await owned(licences.id, bob.address)).toEqual([]);

    const badges = await create(alice, 'Badges', 'BDG', AMOUNTS, false);
    await send(alice, 'mint', badges.id, bob.address, 1n, 3n, '', ZeroHash);
    expect(await refusal(bob, 'transfer', badges.id, carol.address, 1n, 1n)).toBe(notTransferable(badges.id));
    await send(bob, 'burn', badges.id, 1n, 1n);
    expect(await view('balanceOf', badges.id, bob.address, 1n)).toBe(2n);
  });

  it('error: only the issuer mints, freezes and burns from holders; unique tokens take an amount of 1; every refusal says what is wrong', async () => {
    const { id } = await create(alice, 'Policy', 'POL', UNIQUE, true);
    const amounts = await create(alice, 'Policy amounts', 'POA', AMOUNTS, true);
    await send(alice, 'mint', id, bob.address, 1n, 1n, '', ZeroHash);
    await send(alice, 'mint', amounts.id, bob.address, 1n, 2n, '', ZeroHash);
    const notIssuer = (action: string) =>
      `certificates: only the issuer of collection ${id} (${alice.address}) can ${action}, not ${bob.address}`;
    expect(await refusal(bob, 'mint', id, bob.address, 2n, 1n, '', ZeroHash)).toBe(notIssuer('mint'));
    expect(await refusal(bob, 'burnFrom', id, bob.address, 1n, 1n)).toBe(notIssuer('burn from a holder'));
    // Mined, a refused mint reverts and issues nothing.
    const tx = await as(bob).getFunction('mint')(id, bob.address, 2n, 1n, '', ZeroHash, { gasLimit: 500_000n });
    await expect(tx.wait()).rejects.toThrow(/revert/);
    expect(await refusal(alice, 'ownerOf', id, 2n)).toBe(`certificates: token 2 of collection ${id} was never issued`);

    const unique = (action: string, n: bigint) =>
      `certificates: collection ${id} holds unique tokens (kind 0): ${action} an amount of 1, not ${n}`;
    expect(await refusal(alice, 'mint', id, bob.address, 2n, 2n, '', ZeroHash)).toBe(unique('mint', 2n));
    expect(await refusal(bob, 'transfer', id, carol.address, 1n, 2n)).toBe(unique('transfer', 2n));
    expect(await refusal(bob, 'burn', id, 1n, 5n)).toBe(unique('burn', 5n));
    expect(await refusal(alice, 'mint', amounts.id, bob.address, 1n, 0n, '', ZeroHash)).toBe(
      'certificates: cannot mint an amount of 0',
    );
    expect(await refusal(alice, 'mint', id, ZeroAddress, 2n, 1n, '', ZeroHash)).toBe(
      'certificates: cannot mint to the zero address',
    );
    expect(await refusal(bob, 'transfer', id, ZeroAddress, 1n, 1n)).toBe(
      'certificates: cannot transfer to the zero address; use burn to destroy a certificate',
    );
    expect(await refusal(carol, 'transfer', id, carol.address, 1n, 1n)).toBe(
      `certificates: ${carol.address} does not hold token 1 of collection ${id} (${bob.address} does)`,
    );
    expect(await refusal(carol, 'burn', id, 1n, 1n)).toBe(
      `certificates: ${carol.address} does not hold token 1 of collection ${id} (${bob.address} does)`,
    );
    expect(await refusal(bob, 'transfer', id, carol.address, 9n, 1n)).toBe(
      `certificates: token 9 of collection ${id} was never issued`,
    );
    expect(await refusal(alice, 'freeze', id, 9n)).toBe(`certificates: token 9 of collection ${id} was never issued`);
    for (const fn of ['tokenURI', 'contentHash', 'isFrozen', 'ownerOf']) {
      expect(await refusal(alice, fn, id, 9n), fn).toBe(`certificates: token 9 of collection ${id} was never issued`);
    }
    const count = await view<bigint>('collectionCount');
    expect(await refusal(alice, 'collection', count + 1n)).toBe(
      `certificates: there is no collection ${count + 1n} (ids run from 1 to ${count}); create one with createCollection`,
    );
    expect(await refusal(alice, 'mint', 0n, bob.address, 1n, 1n, '', ZeroHash)).toMatch(
      /^certificates: there is no collection 0 /,
    );
    expect(await refusal(alice, 'tokenOfOwnerByIndex', id, bob.address, 1n)).toBe(
      `certificates: index 1 is past the 1 token ids ${bob.address} holds in collection ${id} (see tokenCount)`,
    );
    expect(await refusal(alice, 'createCollection', 'Odd', 'ODD', 2, true)).toBe(
      'certificates: kind 2 is unknown; use 0 (unique tokens, as ERC-721) or 1 (amounts, as ERC-1155)',
    );

    // The bounds on names, symbols and URIs, in UTF-8 bytes, and their edges.
    expect(await refusal(alice, 'createCollection', '', 'X', UNIQUE, true)).toBe(
      `certificates: a collection name takes 1 to ${CERTIFICATE_NAME_BYTES_MAX} UTF-8 bytes, not 0`,
    );
    const longName = 'é'.repeat(CERTIFICATE_NAME_BYTES_MAX / 2);
    await certs.getFunction('createCollection').staticCall(longName, 'X', UNIQUE, true);
    expect(await refusal(alice, 'createCollection', `${longName}x`, 'X', UNIQUE, true)).toBe(
      `certificates: a collection name takes 1 to ${CERTIFICATE_NAME_BYTES_MAX} UTF-8 bytes, not ${CERTIFICATE_NAME_BYTES_MAX + 1}`,
    );
    await certs.getFunction('createCollection').staticCall('X', 'S'.repeat(CERTIFICATE_SYMBOL_BYTES_MAX), UNIQUE, true);
    expect(await refusal(alice, 'createCollection', 'X', 'S'.repeat(CERTIFICATE_SYMBOL_BYTES_MAX + 1), UNIQUE, true)).toBe(
      `certificates: a collection symbol takes 0 to ${CERTIFICATE_SYMBOL_BYTES_MAX} UTF-8 bytes, not ${CERTIFICATE_SYMBOL_BYTES_MAX + 1}`,
    );
    const longUri = `ipfs://${'u'.repeat(CERTIFICATE_URI_BYTES_MAX - 7)}`;
    await send(alice, 'mint', id, bob.address, 3n, 1n, longUri, ZeroHash);
    expect(await view('tokenURI', id, 3n)).toBe(longUri);
    expect(await refusal(alice, 'mint', id, bob.address, 4n, 1n, `${longUri}u`, ZeroHash)).toBe(
      `certificates: a token URI takes 0 to ${CERTIFICATE_URI_BYTES_MAX} UTF-8 bytes, not ${CERTIFICATE_URI_BYTES_MAX + 1}`,
    );
  });

  it('behavior: a contract issues certificates, and holds and hands on certificates issued to it', async () => {
    const { abi, bytecode } = await compileFixture('CertHolder.sol', 'CertHolder');
    const holder = (await new ContractFactory(abi, bytecode, alice).deploy()) as Contract;
    await holder.waitForDeployment();
    const holderAddress = await holder.getAddress();

    // As issuer: the contract opens a collection and mints from it.
    const opened = await (await holder.getFunction('open')('Contract-issued', 'CI')).wait();
    const created = ((opened?.logs ?? []) as Log[])
      .map((l) => certs.interface.parseLog(l))
      .find((p) => p?.name === 'CollectionCreated');
    const id = (await holder.getFunction('collectionId')()) as bigint;
    const at = (await holder.getFunction('collectionAddress')()) as string;
    expect([created?.args.collectionId, created?.args.issuer, created?.args.collectionAddress]).toEqual([id, holderAddress, at]);
    expect((await view<unknown[]>('collection', id))[4]).toBe(holderAddress);
    const issued = await (
      await holder.getFunction('issue')(bob.address, 1n, 'ipfs://by-contract', docHash('by contract'))
    ).wait();
    expect(events(issued as TransactionReceipt, ERC721)).toEqual([[at, 'Transfer', ZeroAddress, bob.address, 1n]]);
    expect(await view('ownerOf', id, 1n)).toBe(bob.address);
    expect(await refusal(alice, 'mint', id, alice.address, 2n, 1n, '', ZeroHash)).toBe(
      `certificates: only the issuer of collection ${id} (${holderAddress}) can mint, not ${alice.address}`,
    );
    await (await holder.getFunction('freeze')(1n)).wait();
    expect(await refusal(bob, 'transfer', id, carol.address, 1n, 1n)).toBe(
      `certificates: token 1 of collection ${id} is frozen by its issuer; it cannot move until unfrozen`,
    );

    // As holder: certificates issued to the contract, read in a view and handed on by it.
    const credits = await create(alice, 'Held by a contract', 'HC', AMOUNTS, true);
    await send(alice, 'mint', credits.id, holderAddress, 3n, 5n, '', ZeroHash);
    expect(await holder.getFunction('holds')(credits.id, 3n)).toBe(5n);
    expect(await owned(credits.id, holderAddress)).toEqual([3n]);
    const given = await (await holder.getFunction('give')(credits.id, carol.address, 3n, 2n)).wait();
    expect(events(given as TransactionReceipt, ERC1155)).toEqual([
      [credits.at, 'TransferSingle', holderAddress, holderAddress, carol.address, 3n, 2n],
    ]);
    expect(await holder.getFunction('holds')(credits.id, 3n)).toBe(3n);
    expect(await view('balanceOf', credits.id, carol.address, 3n)).toBe(2n);
    // The service's refusal reaches the contract's caller unchanged.
    await expect(holder.getFunction('give').staticCall(credits.id, carol.address, 3n, 10n)).rejects.toThrow(
      `certificates: ${holderAddress} holds 3 of token 3 of collection ${credits.id}, less than 10`,
    );
  });

  it('behavior: running out of gas reverts a mint and leaves nothing; the published interface has the same ABI', async () => {
    const { id } = await create(alice, 'Starved', 'STV', UNIQUE, true);
    const tx = await certs.getFunction('mint')(id, bob.address, 1n, 1n, 'ipfs://starved', ZeroHash, { gasLimit: 60_000n });
    await expect(tx.wait()).rejects.toThrow();
    expect(await refusal(alice, 'tokenURI', id, 1n)).toBe(`certificates: token 1 of collection ${id} was never issued`);
    expect(await owned(id, bob.address)).toEqual([]);
    expect(await supplyOf(id)).toBe(0n);

    const { abi } = await compileFixture('IPolisCertificates.sol', 'IPolisCertificates');
    const canonical = (a: readonly unknown[]) =>
      (a as Array<Record<string, unknown>>).map((x) => new Interface([x as never]).fragments[0]?.format('full')).sort();
    expect(canonical(abi)).toEqual(canonical(CERTIFICATES_ABI as unknown as unknown[]));
  });
});
