/**
 * Gateway configuration from the system ledger (ADR 0006): plans, each app's plan and the API-key
 * records of the registry, so every gateway of the network serves the same keys and limits. The
 * node's access file still adds keys of its own (dev networks, apps of the node's genesis); on a
 * conflict the system ledger wins. The merged snapshot is rebuilt only when either side changes.
 */
import { type GovState, listApps, listPlans } from '@polis/governance';
import type { AccessSnapshot, AccessSource, KeyRecord, Limits } from '../gateway/access.js';
import type { SystemApp } from './systemApp.js';

/** The system ledger's records in the gateway's terms. */
export function systemAccess(state: GovState): {
  plans: Map<string, Limits>;
  appPlans: Map<string, string>;
  keys: Map<string, KeyRecord>;
} {
  const plans = new Map(listPlans(state).map((p) => [p.name, { ...p.limits }]));
  const appPlans = new Map(listApps(state).map((a) => [a.id, a.plan]));
  const keys = new Map<string, KeyRecord>();
  for (const k of state.apiKeys.values()) {
    keys.set(k.id, {
      id: k.id,
      appId: k.appId,
      label: k.label,
      salt: k.salt,
      hash: k.hash,
      scopes: [...k.scopes],
      origins: [...k.origins],
      ips: [...k.ips],
      methods: [...k.methods],
      contracts: [...k.contracts],
      limits: { ...k.limits },
      createdAt: k.createdAt,
      ...(k.revokedAt !== undefined ? { revokedAt: k.revokedAt } : {}),
    });
  }
  return { plans, appPlans, keys };
}

/** The access file's records overlaid with the system ledger's. */
export class SystemAccessSource implements AccessSource {
  readonly #file: AccessSource;
  readonly #system: SystemApp;
  #cached: { fileVersion: number; state: GovState; snapshot: AccessSnapshot } | undefined;
  #version = 0;

  constructor(file: AccessSource, system: SystemApp) {
    this.#file = file;
    this.#system = system;
  }

  current(): AccessSnapshot {
    const file = this.#file.current();
    const state = this.#system.state;
    const c = this.#cached;
    if (c && c.fileVersion === file.version && c.state === state) return c.snapshot;
    const sys = systemAccess(state);
    const snapshot: AccessSnapshot = {
      plans: new Map([...file.plans, ...sys.plans]),
      appPlans: new Map([...file.appPlans, ...sys.appPlans]),
      keys: new Map([...file.keys, ...sys.keys]),
      version: ++this.#version,
    };
    this.#cached = { fileVersion: file.version, state, snapshot };
    return snapshot;
  }

  close(): void {
    this.#file.close();
  }
}
