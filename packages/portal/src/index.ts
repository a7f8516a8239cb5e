/**
 * @polis/portal: the web portal's backend and the composition root of a portal process. It opens
 * the store (SQLite by default, PostgreSQL for a postgres:// URL) and migrates it, builds the
 * accounts, apps and network clients, and serves the JSON API and the built front end. Modules are
 * closed in reverse order.
 */
import { fileURLToPath } from 'node:url';
import { createApps } from './server/apps.js';
import { buildServer, type PortalContext, type RouteModule } from './server/http.js';
import { Network } from './server/network.js';
import { appRoutes } from './server/routes/apps.js';
import { authRoutes } from './server/routes/auth.js';
import { contractRoutes } from './server/routes/contracts.js';
import { explorerRoutes } from './server/routes/explorer.js';
import { adminRoutes, operatorRoutes } from './server/routes/governance.js';
import { orgRoutes } from './server/routes/orgs.js';
import { regulatorRoutes } from './server/routes/regulator.js';
import { usageRoutes } from './server/routes/usage.js';
import {
  type AccountsOptions,
  createAccounts,
  type Db,
  isPortalError,
  migrate,
  openDb,
  PortalErrorCode,
  type UserKind,
} from './server/store/index.js';
import { startUsageCollector } from './server/usage.js';

export * from './server/compile.js';
export type { PortalContext, RouteModule } from './server/http.js';
export * from './server/network.js';
export * from './server/store/index.js';

/** The built front end, beside the compiled backend. */
export const WEB_DIR = fileURLToPath(new URL('../dist/web', import.meta.url));

/** A user the portal creates at start when missing (dev networks print their logins). */
export type SeedUser = { email: string; name: string; password: string; kind: UserKind };

/** Options of `startPortal`. */
export type PortalOptions = {
  /** A SQLite file path (or `:memory:`), a postgres:// URL, or an open store (closed with the portal). */
  db: string | Db;
  /** The city nodes' gateway base URLs. */
  gateways: string[];
  /** 32 bytes that seal the owner keys and the portal's API keys in the store. */
  masterKey: Uint8Array;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  webDir?: string;
  seedUsers?: SeedUser[];
  accounts?: AccountsOptions;
  /** How often the usage collector reads the gateways' meters (0: never). */
  usageIntervalMs?: number;
  /** Route modules added after the built-in ones (tests). */
  extraRoutes?: RouteModule[];
  logger?: boolean | object;
};

/** A running portal. */
export type Portal = { url: string; ctx: PortalContext; close(): Promise<void> };

/** Opens the store, builds the modules and starts serving. */
export async function startPortal(options: PortalOptions): Promise<Portal> {
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };
  try {
    const db = typeof options.db === 'string' ? openDb(options.db) : options.db;
    closers.push(() => db.close());
    await migrate(db);
    const accounts = createAccounts(db, options.accounts);
    for (const seed of options.seedUsers ?? []) {
      try {
        await accounts.signUp(seed);
      } catch (err) {
        if (!isPortalError(err, PortalErrorCode.EMAIL_TAKEN)) throw err;
      }
    }
    const ctx: PortalContext = {
      db,
      accounts,
      apps: createApps(db, options.masterKey),
      network: new Network({ gateways: options.gateways }),
      now: Date.now,
    };
    const app = await buildServer({
      ctx,
      routes: [
        authRoutes,
        appRoutes,
        contractRoutes,
        orgRoutes,
        explorerRoutes,
        usageRoutes,
        adminRoutes,
        operatorRoutes,
        regulatorRoutes,
        ...(options.extraRoutes ?? []),
      ],
      webDir: options.webDir ?? WEB_DIR,
      ...(options.logger !== undefined ? { logger: options.logger } : {}),
    });
    closers.push(() => app.close());
    await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 3000 });
    const intervalMs = options.usageIntervalMs ?? 60_000;
    if (intervalMs > 0) {
      const collector = startUsageCollector(ctx, { intervalMs });
      closers.push(() => collector.stop());
    }
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : options.port;
    return { url: `http://${options.host ?? '127.0.0.1'}:${port}`, ctx, close };
  } catch (err) {
    await close();
    throw err;
  }
}
