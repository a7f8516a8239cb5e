/**
 * The portal's off-chain store: accounts, sessions, organisations, invitations, usage and bills,
 * on SQLite (embedded default) or PostgreSQL, plus sealing of the apps' owner keys.
 */
export * from './accounts.js';
export * from './billing.js';
export * from './db.js';
export * from './errors.js';
export * from './migrations.js';
export * from './secrets.js';
