/**
 * The portal's copy of the apps it created for its users: which organisation owns each, the
 * app's owner key and the portal's own API key (both sealed with the portal's master key), the
 * API keys' metadata (never their secrets) and the contracts deployed from the portal. The
 * network's record (`gov_getApp`) stays the truth for status, validators and plan.
 */
import { randomUUID } from 'node:crypto';
import { type Db, intToNumber, notFound, openSecret, sealSecret } from './store/index.js';

/** An app as the portal keeps it. */
export type PortalApp = {
  appId: string;
  orgId: string;
  name: string;
  plan: string;
  chainId: number;
  keyMode: string;
  accessPolicy: string;
  validators: string[];
  ownerAddress: string;
  status: string;
  createdAt: number;
};

/** An API key's metadata. */
export type KeyMeta = { keyId: string; appId: string; label: string; scopes: string[]; createdAt: number; revokedAt?: number };

/** A contract deployed from the portal. */
export type ContractMeta = {
  id: string;
  appId: string;
  address: string;
  name: string;
  abi: unknown[];
  source?: string;
  txHash: string;
  deployedBy?: string;
  createdAt: number;
};

type AppRow = {
  app_id: string;
  org_id: string;
  name: string;
  plan: string;
  chain_id: number | string;
  key_mode: string;
  access_policy: string;
  validators: string;
  owner_address: string;
  status: string;
  created_at: number | string;
};

const num = (v: number | string | bigint, column: string) => (typeof v === 'number' ? v : intToNumber(v, column));

function toApp(r: AppRow): PortalApp {
  return {
    appId: r.app_id,
    orgId: r.org_id,
    name: r.name,
    plan: r.plan,
    chainId: num(r.chain_id, 'chain_id'),
    keyMode: r.key_mode,
    accessPolicy: r.access_policy,
    validators: JSON.parse(r.validators) as string[],
    ownerAddress: r.owner_address,
    status: r.status,
    createdAt: num(r.created_at, 'created_at'),
  };
}

/** Contracts listed per app at most. */
export const CONTRACTS_LIST_MAX = 200;

/** The apps repository over `db`; secrets are sealed with `masterKey`. */
export function createApps(db: Db, masterKey: Uint8Array) {
  return {
    /** Stores a new app with its sealed owner key and portal key. */
    async create(app: PortalApp, secrets: { ownerKey: Uint8Array; portalKey: string }): Promise<void> {
      await db.run(
        `INSERT INTO apps (app_id, org_id, name, plan, chain_id, key_mode, access_policy, validators, owner_address,
           owner_key_enc, portal_key_enc, status, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
        [
          app.appId,
          app.orgId,
          app.name,
          app.plan,
          app.chainId,
          app.keyMode,
          app.accessPolicy,
          JSON.stringify(app.validators),
          app.ownerAddress,
          sealSecret(masterKey, secrets.ownerKey, `owner:${app.appId}`),
          sealSecret(masterKey, new TextEncoder().encode(secrets.portalKey), `portal-key:${app.appId}`),
          app.status,
          app.createdAt,
        ],
      );
    },

    /** The app, or undefined. */
    async get(appId: string): Promise<PortalApp | undefined> {
      const row = await db.one<AppRow>('SELECT * FROM apps WHERE app_id = $1', [appId]);
      return row && toApp(row);
    },

    /** The app, or NOT_FOUND. */
    async need(appId: string): Promise<PortalApp> {
      const app = await this.get(appId);
      if (!app) throw notFound(`app ${appId}`, 'Pick an app from your list of apps');
      return app;
    },

    /** The apps of the given organisations, newest first. */
    async ofOrgs(orgIds: string[]): Promise<PortalApp[]> {
      if (orgIds.length === 0) return [];
      const marks = orgIds.map((_, i) => `$${i + 1}`).join(', ');
      const rows = await db.all<AppRow>(`SELECT * FROM apps WHERE org_id IN (${marks}) ORDER BY created_at DESC`, orgIds);
      return rows.map(toApp);
    },

    /** Every app the portal created, newest first (admins and regulators). */
    async all(): Promise<PortalApp[]> {
      return (await db.all<AppRow>('SELECT * FROM apps ORDER BY created_at DESC LIMIT 1000')).map(toApp);
    },

    /** Updates what the network says of an app. */
    async sync(appId: string, fields: { status: string; plan: string; validators: string[] }): Promise<void> {
      await db.run('UPDATE apps SET status = $1, plan = $2, validators = $3 WHERE app_id = $4', [
        fields.status,
        fields.plan,
        JSON.stringify(fields.validators),
        appId,
      ]);
    },

    /** The app's owner key (the portal signs the owner's governance transactions and deployments with it). */
    async ownerKey(appId: string): Promise<Uint8Array> {
      const row = await db.one<{ owner_key_enc: string }>('SELECT owner_key_enc FROM apps WHERE app_id = $1', [appId]);
      if (!row) throw notFound(`app ${appId}`);
      return openSecret(masterKey, row.owner_key_enc, `owner:${appId}`);
    },

    /** The portal's API key for the app, for its own reads and sends through the gateway. */
    async portalKey(appId: string): Promise<string> {
      const row = await db.one<{ portal_key_enc: string }>('SELECT portal_key_enc FROM apps WHERE app_id = $1', [appId]);
      if (!row) throw notFound(`app ${appId}`);
      return new TextDecoder().decode(openSecret(masterKey, row.portal_key_enc, `portal-key:${appId}`));
    },

    /** Records a key's metadata. */
    async addKey(meta: KeyMeta): Promise<void> {
      await db.run('INSERT INTO api_keys (key_id, app_id, label, scopes, created_at) VALUES ($1, $2, $3, $4, $5)', [
        meta.keyId,
        meta.appId,
        meta.label,
        JSON.stringify(meta.scopes),
        meta.createdAt,
      ]);
    },

    /** Marks a key revoked. */
    async revokeKey(appId: string, keyId: string, at: number): Promise<void> {
      const { changes } = await db.run(
        'UPDATE api_keys SET revoked_at = $1 WHERE app_id = $2 AND key_id = $3 AND revoked_at IS NULL',
        [at, appId, keyId],
      );
      if (changes === 0) throw notFound(`key ${keyId}`, 'It may be revoked already: reload the list of keys');
    },

    /** The app's keys, newest first. */
    async keys(appId: string): Promise<KeyMeta[]> {
      const rows = await db.all<{
        key_id: string;
        app_id: string;
        label: string;
        scopes: string;
        created_at: number | string;
        revoked_at: number | string | null;
      }>('SELECT * FROM api_keys WHERE app_id = $1 ORDER BY created_at DESC', [appId]);
      return rows.map((r) => ({
        keyId: r.key_id,
        appId: r.app_id,
        label: r.label,
        scopes: JSON.parse(r.scopes) as string[],
        createdAt: num(r.created_at, 'created_at'),
        ...(r.revoked_at !== null ? { revokedAt: num(r.revoked_at, 'revoked_at') } : {}),
      }));
    },

    /** Records a deployed contract. */
    async addContract(c: Omit<ContractMeta, 'id'>): Promise<ContractMeta> {
      const id = randomUUID();
      await db.run(
        'INSERT INTO contracts (id, app_id, address, name, abi, source, tx_hash, deployed_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
        [id, c.appId, c.address, c.name, JSON.stringify(c.abi), c.source ?? null, c.txHash, c.deployedBy ?? null, c.createdAt],
      );
      return { id, ...c };
    },

    /** The app's contracts, newest first. */
    async contracts(appId: string): Promise<ContractMeta[]> {
      const rows = await db.all<{
        id: string;
        app_id: string;
        address: string;
        name: string;
        abi: string;
        source: string | null;
        tx_hash: string;
        deployed_by: string | null;
        created_at: number | string;
      }>('SELECT * FROM contracts WHERE app_id = $1 ORDER BY created_at DESC LIMIT $2', [appId, CONTRACTS_LIST_MAX]);
      return rows.map((r) => ({
        id: r.id,
        appId: r.app_id,
        address: r.address,
        name: r.name,
        abi: JSON.parse(r.abi) as unknown[],
        ...(r.source !== null ? { source: r.source } : {}),
        txHash: r.tx_hash,
        ...(r.deployed_by !== null ? { deployedBy: r.deployed_by } : {}),
        createdAt: num(r.created_at, 'created_at'),
      }));
    },
  };
}

/** The apps repository. */
export type Apps = ReturnType<typeof createApps>;
