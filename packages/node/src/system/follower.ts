/**
 * Following the system ledger (ADR 0006): a node hosts the app ledgers whose records name it as
 * a validator or an observer while they are active or suspended, and stops hosting them when
 * they are archived (their data stays on disk). It reconciles at start and after every system
 * block whose events touch apps, one reconciliation at a time.
 *
 * An app ledger's genesis is derived from its system record alone, so every node derives the
 * same one, whenever it joins: its id, chain id, first validators (`genesisValidators`, with their
 * registry names), access policy with the participants as the allowlist, no pre-funded accounts,
 * and genesis time 0.
 *
 * Validator changes: the ledger applies the record's current set in one of its own blocks
 * (`LedgerApp`), so a node added as a validator starts hosting at once (and syncs), while a node
 * taken out keeps hosting, and voting, until the ledger's block that removes it commits.
 */
import { hexToBytes } from '@polis/core';
import { type AppRecord, type GovState, getApp, getNode, listApps, participantsOf } from '@polis/governance';
import type { Logger } from 'pino';
import { type LedgerGenesis, LedgerGenesisSchema } from '../config.js';
import type { WantedValidators } from '../ledgerApp.js';
import type { SystemApp } from './systemApp.js';

/** A ledger the follower opened, and how to stop it. */
export type FollowedLedger = {
  close(): Promise<void>;
  /** Whether this node is in the ledger's validator set as of its last committed block. */
  validating(): boolean;
};

/** What the follower gives a ledger it opens. */
export type FollowHooks = {
  /** The validator set the system ledger records for the app now. */
  wanted: () => WantedValidators | undefined;
  /** Call when the ledger committed a block that changed its validator set. */
  changed: () => void;
};

/** What the follower needs from its node. */
export type FollowerOptions = {
  system: SystemApp;
  /** This node's Ed25519 public key, lower-case 0x hex. */
  self: `0x${string}`;
  /** Ledger ids the node hosts from its own genesis; the system cannot take them over. */
  reserved: ReadonlySet<string>;
  /** Opens and starts serving a ledger. */
  open(genesis: LedgerGenesis, hooks: FollowHooks): Promise<FollowedLedger>;
  logger: Logger;
};

/** The app ledger genesis every node derives from an app's system record. */
export function appLedgerGenesis(state: GovState, app: AppRecord): LedgerGenesis {
  return LedgerGenesisSchema.parse({
    id: app.id,
    chainId: app.chainId,
    validators: app.genesisValidators.map((publicKey) => ({
      name: getNode(state, publicKey)?.name ?? publicKey,
      publicKey,
      power: 1,
    })),
    accessPolicy: app.accessPolicy,
    owner: app.owner,
    allowlist: app.accessPolicy === 'allowlist' ? participantsOf(state, app.id).map((p) => p.address) : [],
  });
}

/** The validator set the system ledger records for `appId` (every validator has power 1). */
export function wantedValidators(state: GovState, appId: string): WantedValidators | undefined {
  const app = getApp(state, appId);
  if (!app) return undefined;
  return { epoch: app.validatorsFrom, validators: app.validators.map((k) => ({ publicKey: hexToBytes(k), power: 1 })) };
}

/** The apps this node should host in `state`. */
function assigned(state: GovState, self: `0x${string}`): AppRecord[] {
  return listApps(state).filter(
    (a) => (a.status === 'active' || a.status === 'suspended') && (a.validators.includes(self) || a.observers.includes(self)),
  );
}

const APP_EVENTS = new Set([
  'app-activated',
  'app-resumed',
  'app-archived',
  'app-suspended',
  'validators-changed',
  'observers-changed',
]);

export class SystemFollower {
  readonly #o: FollowerOptions;
  readonly #hosted = new Map<string, FollowedLedger>();
  readonly #unsubscribe: () => void;
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(o: FollowerOptions) {
    this.#o = o;
    this.#unsubscribe = o.system.onBlock((e) => {
      if (e.receipts.some((r) => r.events.some((ev) => APP_EVENTS.has(ev.type)))) this.#schedule();
    });
  }

  /** Starts following and hosts the apps already assigned to this node. */
  static async start(o: FollowerOptions): Promise<SystemFollower> {
    const f = new SystemFollower(o);
    f.#schedule();
    await f.#queue;
    return f;
  }

  /** The ids of the ledgers the follower hosts now. */
  get hosted(): string[] {
    return [...this.#hosted.keys()];
  }

  /** Resolves once every reconciliation asked for so far has run. */
  settled(): Promise<void> {
    return this.#queue;
  }

  #schedule(): void {
    this.#queue = this.#queue
      .then(() => this.#reconcile())
      .catch((err) => this.#o.logger.error({ err }, 'following the system ledger failed'));
  }

  async #reconcile(): Promise<void> {
    if (this.#closed) return;
    const state = this.#o.system.state;
    const want = new Map(assigned(state, this.#o.self).map((a) => [a.id, a]));
    for (const [id, ledger] of this.#hosted) {
      if (want.has(id)) continue;
      // Taken out of the set but still in the ledger's own: keep voting until that block commits.
      if (getApp(state, id)?.status !== 'archived' && ledger.validating()) continue;
      this.#hosted.delete(id);
      await ledger.close();
      this.#o.logger.info({ app: id }, 'stopped hosting an app ledger; its data stays on disk');
    }
    for (const [id, app] of want) {
      if (this.#hosted.has(id)) continue;
      if (this.#o.reserved.has(id)) {
        this.#o.logger.warn({ app: id }, 'the system ledger assigns an app whose id this node hosts from its genesis; ignored');
        continue;
      }
      const t = performance.now();
      const hooks: FollowHooks = {
        wanted: () => wantedValidators(this.#o.system.state, id),
        changed: () => this.#schedule(),
      };
      this.#hosted.set(id, await this.#o.open(appLedgerGenesis(state, app), hooks));
      this.#o.logger.info({ app: id, chainId: app.chainId, ms: Math.round(performance.now() - t) }, 'hosting an app ledger');
    }
  }

  /** Stops following and closes the ledgers it opened. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe();
    await this.#queue;
    for (const ledger of [...this.#hosted.values()].reverse()) await ledger.close();
    this.#hosted.clear();
  }
}
