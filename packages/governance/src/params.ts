/**
 * Constants of the system ledger: the signing domain, the transaction format version and the
 * limit on every registry, list and string. Each limit is checked where data enters the state
 * (the codec or the state transition), so no registry grows without bound.
 */

/** The domain tag that starts every signing preimage, so a governance signature cannot pass as anything else. */
export const GOV_SIGNING_DOMAIN = 'polis-governance-v1';

/** The only transaction format version this code reads and writes. */
export const GOV_TX_VERSION = 1;

/** The format version of the encoded state (the `meta` entry). */
export const GOV_STATE_VERSION = 1;

/** The largest encoded governance transaction, in bytes (an API key with full allowlists fits easily). */
export const GOV_TX_BYTES_MAX = 64 * 1024;

/** The largest encoded state entry value, in bytes (a proposal with every approval fits easily). */
export const STATE_VALUE_BYTES_MAX = 256 * 1024;

/** Admins in the alliance. */
export const ADMINS_MAX = 64;

/**
 * Approvals one proposal can hold. Each admin approves once, but admins can be replaced while a
 * proposal is open, so the bound is above `ADMINS_MAX`.
 */
export const APPROVALS_MAX = 2 * ADMINS_MAX;

/** Proposals open (not executed, failed or expired) at one time. */
export const OPEN_PROPOSALS_MAX = 256;

/** How far ahead of its block's time a proposal may expire: 90 days. */
export const PROPOSAL_TTL_MS_MAX = 90 * 24 * 60 * 60 * 1000;

/** Nodes in the registry, removed ones included (they stay for the record). */
export const NODES_MAX = 4096;

/** Nodes waiting for admission; `nodeApply` is refused above it, so anyone's spam stays bounded. */
export const PENDING_NODES_MAX = 256;

/** Apps in the registry, archived ones included (their ids and chain ids stay reserved). */
export const APPS_MAX = 10_000;

/** Apps waiting for approval; `requestApp` is refused above it. */
export const PENDING_APPS_MAX = 256;

/** Validators of one app. */
export const VALIDATORS_MAX = 100;

/** Observers of one app. */
export const OBSERVERS_MAX = 100;

/** Participants of one app. */
export const PARTICIPANTS_PER_APP_MAX = 10_000;

/** API keys of one app, revoked ones included (a revocation stays for the record). */
export const API_KEYS_PER_APP_MAX = 1000;

/** Plans. */
export const PLANS_MAX = 64;

/** Regulators. */
export const REGULATORS_MAX = 256;

/** Apps named in one regulator grant (grant `all` for more). */
export const REGULATOR_APPS_MAX = 256;

/** Multiaddrs of one node. */
export const NODE_ADDRS_MAX = 16;

/** Entries of each allowlist of an API key (origins, IPs, methods, contracts). */
export const KEY_ALLOWLIST_MAX = 64;

/** Lengths of strings, in UTF-8 bytes. */
export const NAME_BYTES_MAX = 64;
export const REGION_BYTES_MAX = 64;
export const MULTIADDR_BYTES_MAX = 256;
export const LABEL_BYTES_MAX = 128;
export const ORIGIN_BYTES_MAX = 256;
export const IP_BYTES_MAX = 64;
export const METHOD_BYTES_MAX = 64;
export const ERROR_MESSAGE_BYTES_MAX = 1024;
export const ERROR_CODE_BYTES_MAX = 64;

/** App ids: the same rule as the ledger ids of a node's genesis (they name URLs and domains). */
export const APP_ID_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;

/** Plan names. */
export const PLAN_NAME_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;

/** Participant roles: a short lower-case word such as `user` or `operator`. */
export const ROLE_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;
