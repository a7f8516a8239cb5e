/**
 * Built-in services (issue P7): native TypeScript contracts at reserved addresses, called through
 * an ABI like any contract, by transactions and by other contracts. They run inside the EVM as
 * custom precompiles, so they share the transaction's state overlay, checkpoints and reverts,
 * their storage is part of the state root (and so of every proof), and their logs are ordinary
 * receipt logs.
 *
 * A precompile is not told who called it, so the host wraps the EVM's call entry and keeps a
 * stack of the messages in flight: the service sees its caller, whether the call is static, and
 * the block it runs in.
 *
 * Gas: a service charges for what it does, in units close to the EVM's (a storage read 200, a
 * new slot 20,000 for state growth, a log as LOG does), so block gas limits bound native work
 * as they bound bytecode. Running out of gas reverts like the EVM does.
 */
import type { EVM, ExecResult, PrecompileInput } from '@ethereumjs/evm';
import { EVMError } from '@ethereumjs/evm';
import { Account, Address } from '@ethereumjs/util';
import { bytesToHex, concatBytes, keccak256, utf8ToBytes } from '@polis/core';
import {
  type Abi,
  type AbiEvent,
  type AbiFunction,
  decodeFunctionData,
  encodeAbiParameters,
  encodeErrorResult,
  encodeFunctionResult,
  type Hex,
  toEventSelector,
  toFunctionSelector,
  hexToBytes as viemHexToBytes,
} from 'viem';
import type { BlockEnv } from '../executor.js';
import type { JournaledStateManager } from '../state/journaledState.js';

/** Gas a service charges. */
export const SERVICE_GAS = {
  /** Every call. */
  call: 700,
  /** Reading one storage word. */
  read: 200,
  /** Writing a word that was zero (the state grows). */
  writeNew: 20_000,
  /** Changing or clearing a word that was set. */
  writeUpdate: 2_900,
  /** A log: as LOG0-LOG4. */
  log: 375,
  logTopic: 375,
  logByte: 8,
  /** Hashing, per 32 bytes. */
  hashWord: 6,
} as const;

/** Bytes a stored byte string may hold (a DID document, a URI, metadata). */
export const SERVICE_BYTES_MAX = 16 * 1024;

/** A call that a service refuses: the transaction reverts with `Error(reason)`. */
export class ServiceRevert extends Error {
  override name = 'ServiceRevert';
}

/** What a service handler sees of its call. */
export type ServiceCall = {
  /** The immediate caller: the transaction's sender, or the contract that called. */
  caller: Uint8Array;
  /** A STATICCALL (or `eth_call` of a view): nothing may be written. */
  isStatic: boolean;
  /** The block the call runs in. */
  env: BlockEnv;
  store: ServiceStore;
  /** Emits a log from `address` (the service's own unless given). */
  log(event: string, args: Record<string, unknown>, address?: Uint8Array): void;
  /** Emits an encoded log from the service's own address, charged as `log` charges it. */
  logEncoded(topics: Uint8Array[], data: Uint8Array): void;
  /** Charges gas; throws when the call runs out. */
  charge(gas: number): void;
};

/** One function's handler: decoded arguments in, the values to ABI-encode out. */
export type ServiceHandler = (args: readonly unknown[], call: ServiceCall) => Promise<unknown> | unknown;

/**
 * A handler of a function's raw calldata (after the selector), for the hot paths where decoding
 * through the ABI costs more than the work. It returns `undefined`, before it charges, writes or
 * logs anything, when it does not take this calldata (an unusual but valid encoding, or a
 * malformed one): the ABI path then decodes it as for any function, so what is accepted, and
 * every error, is the same either way. It returns the ABI-encoded result otherwise.
 */
export type RawServiceHandler = (args: Uint8Array, call: ServiceCall) => Promise<Uint8Array | undefined>;

/** A service: its address, its ABI (functions, events, errors) and a handler per function name. */
export type ServiceDefinition = {
  name: string;
  address: Uint8Array;
  abi: Abi;
  /** Functions that write: refused in a static call. */
  writes: ReadonlySet<string>;
  handlers: Readonly<Record<string, ServiceHandler>>;
  /** Raw-calldata handlers, by function name; the function must also have an ABI handler. */
  raw?: Readonly<Record<string, RawServiceHandler>>;
};

class OutOfGas extends Error {}

/**
 * Storage of one service account, in 32-byte words, read and written through the EVM's state
 * overlay (so a revert undoes it). Byte strings take a length word and then chunks.
 */
export class ServiceStore {
  readonly #state: JournaledStateManager;
  readonly #address: Address;
  readonly #charge: (gas: number) => void;
  #ensured = false;
  /** Words this call has read or written, by slot: only this call writes this account while it runs. */
  readonly #known = new Map<string, Uint8Array>();

  constructor(state: JournaledStateManager, address: Uint8Array, charge: (gas: number) => void) {
    this.#state = state;
    this.#address = new Address(address);
    this.#charge = charge;
  }

  /** The slot of `parts`: keccak-256 of their concatenation (a mapping key, as Solidity's). */
  static slot(...parts: Uint8Array[]): Uint8Array {
    return keccak256(concatBytes(...parts));
  }

  /** A 32-byte word (zero when unset). */
  async word(slot: Uint8Array): Promise<Uint8Array> {
    this.#charge(SERVICE_GAS.read);
    const v = await this.#stored(slot);
    const out = new Uint8Array(32);
    out.set(v, 32 - v.length);
    return out;
  }

  /** Writes a word; all zeros clears it. */
  async setWord(slot: Uint8Array, value: Uint8Array): Promise<void> {
    if (value.length !== 32) throw new Error(`a service word is 32 bytes, not ${value.length}`);
    const before = await this.#stored(slot);
    this.#charge(before.length === 0 && value.some((b) => b !== 0) ? SERVICE_GAS.writeNew : SERVICE_GAS.writeUpdate);
    await this.#ensureAccount();
    await this.#state.putStorage(this.#address, slot, value);
    this.#known.set(bytesToHex(slot), stripLeadingZeros(value));
  }

  /** The stored value of a slot (canonical: no leading zeros), from this call's cache when it has it. */
  async #stored(slot: Uint8Array): Promise<Uint8Array> {
    const key = bytesToHex(slot);
    const known = this.#known.get(key);
    if (known !== undefined) return known;
    const v = await this.#state.getStorage(this.#address, slot);
    this.#known.set(key, v);
    return v;
  }

  /** A number stored in a word. */
  async uint(slot: Uint8Array): Promise<bigint> {
    return BigInt(bytesToHex(await this.word(slot)));
  }

  async setUint(slot: Uint8Array, value: bigint): Promise<void> {
    await this.setWord(slot, uintWord(value));
  }

  /** A byte string: a length word at `slot`, then 32-byte chunks from keccak(slot). */
  async bytes(slot: Uint8Array): Promise<Uint8Array> {
    const length = Number(await this.uint(slot));
    const out = new Uint8Array(length);
    const base = BigInt(bytesToHex(keccak256(slot)));
    for (let i = 0; i * 32 < length; i++) {
      const chunk = await this.word(uintWord((base + BigInt(i)) % WORD_SPACE));
      out.set(chunk.subarray(0, Math.min(32, length - i * 32)), i * 32);
    }
    return out;
  }

  async setBytes(slot: Uint8Array, data: Uint8Array): Promise<void> {
    if (data.length > SERVICE_BYTES_MAX)
      throw new ServiceRevert(`${data.length} bytes is over the ${SERVICE_BYTES_MAX}-byte limit`);
    const oldLength = Number(await this.uint(slot));
    await this.setUint(slot, BigInt(data.length));
    const base = BigInt(bytesToHex(keccak256(slot)));
    const chunks = Math.max(Math.ceil(oldLength / 32), Math.ceil(data.length / 32));
    for (let i = 0; i < chunks; i++) {
      const chunk = new Uint8Array(32);
      chunk.set(data.subarray(i * 32, Math.min(data.length, i * 32 + 32)));
      await this.setWord(uintWord((base + BigInt(i)) % WORD_SPACE), chunk);
    }
  }

  // A service account has nonce 1, so that the EVM's empty-account cleanup (EIP-161) never removes it.
  async #ensureAccount(): Promise<void> {
    if (this.#ensured) return;
    // The EVM may already have created it empty for this call (nonce 0): that one would be removed too.
    const account = await this.#state.getAccount(this.#address);
    if (!account) await this.#state.putAccount(this.#address, new Account(1n));
    else if (account.nonce === 0n) await this.#state.modifyAccountFields(this.#address, { nonce: 1n });
    this.#ensured = true;
  }
}

/** Slot arithmetic wraps at 2^256, as Solidity's does. */
const WORD_SPACE = 1n << 256n;

/** A big-endian 32-byte word of `value`. */
export function uintWord(value: bigint): Uint8Array {
  if (value < 0n || value >= 1n << 256n) throw new Error(`${value} does not fit a word`);
  return viemHexToBytes(`0x${value.toString(16).padStart(64, '0')}`);
}

/** An address as a left-padded word. */
export function addressWord(address: Uint8Array): Uint8Array {
  const w = new Uint8Array(32);
  w.set(address, 12);
  return w;
}

type Frame = { caller: Uint8Array; isStatic: boolean };

/**
 * Installs services into one EVM: the precompiles, and the call stack they read their caller
 * from. `env` is set by the executor before each block or call.
 */
export class ServiceHost {
  readonly services: readonly ServiceDefinition[];
  env: BlockEnv = { height: 0, timeMs: 0, gasLimit: 0n, coinbase: new Uint8Array(20) };
  readonly #frames: Frame[] = [];
  #state: JournaledStateManager | undefined;

  constructor(services: readonly ServiceDefinition[]) {
    this.services = services;
  }

  /** The precompiles to give `createVM` (through `evmOpts.customPrecompiles`). */
  precompiles(): Array<{ address: Address; function: (input: PrecompileInput) => Promise<ExecResult> }> {
    return this.services.map((s) => ({ address: new Address(s.address), function: (input) => this.#run(s, input) }));
  }

  /** Wraps the EVM's call entry, so that each service call knows its caller. Call once, after `createVM`. */
  attach(evm: EVM, state: JournaledStateManager): void {
    this.#state = state;
    const target = evm as unknown as { _executeCall(message: MessageLike): Promise<unknown> };
    const original = target._executeCall.bind(evm);
    target._executeCall = async (message: MessageLike) => {
      this.#frames.push({ caller: message.caller.bytes, isStatic: message.isStatic });
      try {
        return await original(message);
      } finally {
        this.#frames.pop();
      }
    };
  }

  /** The raw handlers of each service, by 4-byte selector (as a number). */
  readonly #raw = new WeakMap<ServiceDefinition, Map<number, { name: string; handler: RawServiceHandler }>>();

  #rawHandler(s: ServiceDefinition, data: Uint8Array): { name: string; handler: RawServiceHandler } | undefined {
    if (!s.raw || data.length < 4) return undefined;
    let bySelector = this.#raw.get(s);
    if (!bySelector) {
      bySelector = new Map();
      for (const [name, handler] of Object.entries(s.raw)) {
        const fn = s.abi.find((x): x is AbiFunction => x.type === 'function' && x.name === name);
        if (!fn || !s.handlers[name]) throw new Error(`${s.name}: the raw handler ${name} has no ABI function and handler`);
        bySelector.set(Number.parseInt(toFunctionSelector(fn).slice(2), 16), { name, handler });
      }
      this.#raw.set(s, bySelector);
    }
    return bySelector.get(new DataView(data.buffer, data.byteOffset, 4).getUint32(0));
  }

  async #run(s: ServiceDefinition, input: PrecompileInput): Promise<ExecResult> {
    const frame = this.#frames[this.#frames.length - 1];
    const state = this.#state;
    if (!frame || !state) throw new Error(`service ${s.name} called outside a call frame`);
    let used = 0n;
    const charge = (gas: number) => {
      used += BigInt(gas);
      if (used > input.gasLimit) throw new OutOfGas();
    };
    const logs: Array<[Uint8Array, Uint8Array[], Uint8Array]> = [];
    const call = (): ServiceCall => ({
      caller: frame.caller,
      isStatic: frame.isStatic,
      env: this.env,
      store: new ServiceStore(state, s.address, charge),
      charge,
      log: (event, args, address) => {
        const { topics, data } = eventEncoder(s.abi, event)(args);
        charge(SERVICE_GAS.log + topics.length * SERVICE_GAS.logTopic + data.length * SERVICE_GAS.logByte);
        logs.push([address ?? s.address, topics, data]);
      },
      logEncoded: (topics, data) => {
        charge(SERVICE_GAS.log + topics.length * SERVICE_GAS.logTopic + data.length * SERVICE_GAS.logByte);
        logs.push([s.address, topics, data]);
      },
    });
    try {
      charge(SERVICE_GAS.call + Math.ceil(input.data.length / 32) * SERVICE_GAS.hashWord);
      const raw = this.#rawHandler(s, input.data);
      if (raw && !(frame.isStatic && s.writes.has(raw.name))) {
        const returnValue = await raw.handler(input.data.subarray(4), call());
        if (returnValue) return { executionGasUsed: used, returnValue, logs };
      }
      let decoded: { functionName: string; args: readonly unknown[] | undefined };
      try {
        decoded = decodeFunctionData({ abi: s.abi, data: bytesToHex(input.data) as Hex });
      } catch {
        throw new ServiceRevert(
          `${s.name}: unknown function or malformed arguments (selector ${bytesToHex(input.data.subarray(0, 4))})`,
        );
      }
      const name = decoded.functionName;
      if (frame.isStatic && s.writes.has(name))
        throw new ServiceRevert(`${s.name}.${name} writes state and cannot run in a static call`);
      const handler = s.handlers[name];
      if (!handler) throw new ServiceRevert(`${s.name}.${name} is not implemented`);
      const result = await handler(decoded.args ?? [], call());
      const fn = s.abi.find((x): x is AbiFunction => x.type === 'function' && x.name === name);
      const returnValue =
        fn && fn.outputs.length > 0
          ? viemHexToBytes(encodeFunctionResult({ abi: [fn], functionName: name, result } as never))
          : new Uint8Array(0);
      return { executionGasUsed: used, returnValue, logs };
    } catch (err) {
      if (err instanceof OutOfGas) {
        return {
          returnValue: new Uint8Array(0),
          executionGasUsed: input.gasLimit,
          exceptionError: new EVMError(EVMError.errorMessages.OUT_OF_GAS),
        };
      }
      if (err instanceof ServiceRevert) {
        const data = encodeErrorResult({
          abi: [{ type: 'error', name: 'Error', inputs: [{ type: 'string', name: 'message' }] }],
          errorName: 'Error',
          args: [err.message],
        });
        return {
          returnValue: viemHexToBytes(data),
          executionGasUsed: used > input.gasLimit ? input.gasLimit : used,
          exceptionError: new EVMError(EVMError.errorMessages.REVERT),
        };
      }
      throw err;
    }
  }
}

type MessageLike = { caller: Address; isStatic: boolean };

type EventEncoder = (args: Record<string, unknown>) => { topics: Uint8Array[]; data: Uint8Array };

const encoders = new WeakMap<Abi, Map<string, EventEncoder>>();

/**
 * An event's log encoder, built once per event: topic 0 is the event's selector, static indexed
 * arguments are their 32-byte words (dynamic ones their keccak-256, as the ABI says), and the data
 * is the ABI encoding of the other arguments. Viem's general encoders cost about 40 µs per log;
 * the records service logs one per record.
 */
function eventEncoder(abi: Abi, event: string): EventEncoder {
  let byName = encoders.get(abi);
  if (!byName) {
    byName = new Map();
    encoders.set(abi, byName);
  }
  const cached = byName.get(event);
  if (cached) return cached;
  const def = abi.find((x): x is AbiEvent => x.type === 'event' && x.name === event);
  if (!def) throw new Error(`no event ${event}`);
  const selector = viemHexToBytes(toEventSelector(def));
  const indexed = def.inputs.filter((i) => i.indexed);
  const others = def.inputs.filter((i) => !i.indexed);
  const topicOf = (type: string, value: unknown): Uint8Array => {
    if (type === 'string') return keccak256(utf8ToBytes(value as string));
    if (type === 'bytes') return keccak256(viemHexToBytes(value as Hex));
    return staticWord(type, value) ?? viemHexToBytes(encodeAbiParameters([{ type }], [value]));
  };
  const dataOf = (args: Record<string, unknown>): Uint8Array => {
    if (others.length === 0) return new Uint8Array(0);
    if (others.length === 1 && others[0]?.type === 'bytes')
      return encodeSingleBytes(viemHexToBytes(args[others[0].name as string] as Hex));
    return viemHexToBytes(
      encodeAbiParameters(
        others,
        others.map((i) => args[i.name as string]),
      ),
    );
  };
  const encoder: EventEncoder = (args) => ({
    topics: [selector, ...indexed.map((i) => topicOf(i.type, args[i.name as string]))],
    data: dataOf(args),
  });
  byName.set(event, encoder);
  return encoder;
}

/** The 32-byte word of a static value (address, bytes32, uintN, bool), or undefined for another type. */
function staticWord(type: string, value: unknown): Uint8Array | undefined {
  if (type === 'address') return addressWord(viemHexToBytes(value as Hex));
  if (type === 'bytes32') return viemHexToBytes(value as Hex);
  if (type === 'bool') return uintWord(value ? 1n : 0n);
  if (/^uint\d*$/.test(type)) return uintWord(BigInt(value as bigint));
  return undefined;
}

/** The ABI encoding of one `bytes` value: its offset (32), its length, the bytes padded to words. */
export function encodeSingleBytes(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(64 + Math.ceil(bytes.length / 32) * 32);
  out[31] = 32;
  out.set(uintWord(BigInt(bytes.length)), 32);
  out.set(bytes, 64);
  return out;
}

function stripLeadingZeros(value: Uint8Array): Uint8Array {
  let i = 0;
  while (i < value.length && value[i] === 0) i++;
  return value.slice(i);
}

/** The 4-byte selectors of a service's functions, for documentation and tests. */
export function selectorsOf(abi: Abi): Record<string, Hex> {
  const out: Record<string, Hex> = {};
  for (const x of abi) if (x.type === 'function') out[x.name] = toFunctionSelector(x);
  return out;
}
