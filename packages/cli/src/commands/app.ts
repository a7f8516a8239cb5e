/**
 * `polis app keys create|list|revoke|rotate`: API keys in a network's access file (the file every
 * gateway of the network reads, until the system ledger holds these records). A new key is
 * printed once; the file keeps only its salted hash. Gateways pick up a change within their
 * `gateway.reloadMs` (1 s by default).
 */
import { resolve } from 'node:path';
import type { ApiKeyRecord } from '@polis/governance';
import { createApiKey, readAccessFile, SCOPES, type Scope, writeAccessFile } from '@polis/node';
import type { Command } from 'commander';
import { CliError, CliErrorCode } from '../password.js';
import { addSignerOptions, call, refusedIfFailed, type SignerOptions, sendAndWait } from './admin.js';

type Print = (line: string) => void;

function list(value: string | undefined): string[] {
  return value === undefined
    ? []
    : value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
}

function parseScopes(value: string): Scope[] {
  const scopes = list(value);
  const bad = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (scopes.length === 0 || bad.length > 0) {
    throw new CliError(
      { code: CliErrorCode.INVALID_OPTION, option: '--scopes', value },
      `--scopes must list some of: ${SCOPES.join(', ')}`,
    );
  }
  return scopes as Scope[];
}

type CreateOptions = {
  accessFile?: string;
  app: string;
  scopes: string;
  plan?: string;
  label?: string;
  methods?: string;
  origins?: string;
  ips?: string;
  contracts?: string;
};

/** Where `keys create|revoke` write: the registry (--url) or an access file; exactly one. */
function keysTarget(opts: {
  accessFile?: string;
  url?: string;
}): { url: string; accessFile?: undefined } | { url?: undefined; accessFile: string } {
  if ((opts.accessFile === undefined) === (opts.url === undefined)) {
    throw new CliError(
      { code: CliErrorCode.INVALID_OPTION, option: '--url', value: opts.url ?? '' },
      'give either --url (the system ledger) or --access-file',
      {
        hint: "On a network with a system ledger, --url and the app owner's key put the key in the registry for every gateway",
      },
    );
  }
  return opts.url !== undefined ? { url: opts.url } : { accessFile: resolve(opts.accessFile as string) };
}

/** An API key as `gov_listApiKeys` shows it: the record without its salt and hash. */
type ApiKeyShown = Omit<ApiKeyRecord, 'salt' | 'hash'>;

function needApp(app: string | undefined, what: string): string {
  if (app === undefined) {
    throw new CliError({ code: CliErrorCode.INVALID_OPTION, option: '--app', value: '' }, `--url needs --app: the app ${what}`);
  }
  return app;
}

function nodeKeys(value: string | undefined, option: string): `0x${string}`[] {
  const keys = list(value);
  const bad = keys.find((k) => !/^0x[0-9a-fA-F]{64}$/.test(k));
  if (bad !== undefined) {
    throw new CliError(
      { code: CliErrorCode.INVALID_OPTION, option, value: bad },
      `${option} must list node public keys (0x and 64 hex digits)`,
      {
        hint: '`gov_listNodes` on a system endpoint lists the nodes and their keys',
      },
    );
  }
  return keys.map((k) => k.toLowerCase() as `0x${string}`);
}

/** Registers `app` on `program`. */
export function registerAppCommands(program: Command, print: Print): void {
  const app = program
    .command('app')
    .description('request, list, show and suspend apps on the system ledger, and manage their API keys');

  addSignerOptions(
    app
      .command('create')
      .description(
        'request an app: its own ledger on the nodes you choose (approved by the alliance, or at once where the policy says so)',
      )
      .requiredOption('--id <id>', 'the app id: lower-case letters, digits and dashes')
      .requiredOption('--chain-id <n>', 'its EVM chain id')
      .requiredOption('--validators <keys>', 'comma-separated public keys of the nodes that validate it')
      .option('--observers <keys>', 'comma-separated public keys of nodes that only follow it')
      .option('--plan <name>', 'its plan', 'free')
      .option('--key-mode <mode>', 'upload (clients sign) or trust (the gateway keeps keys)', 'upload')
      .option('--access-policy <policy>', 'open, or allowlist (participants only)', 'open'),
  ).action(
    async (
      opts: SignerOptions & {
        id: string;
        chainId: string;
        validators: string;
        observers?: string;
        plan: string;
        keyMode: string;
        accessPolicy: string;
      },
    ) => {
      const chainId = Number(opts.chainId);
      if (!Number.isSafeInteger(chainId) || chainId <= 0) {
        throw new CliError(
          { code: CliErrorCode.INVALID_OPTION, option: '--chain-id', value: opts.chainId },
          '--chain-id must be a positive integer',
        );
      }
      const receipt = await sendAndWait(opts, {
        type: 'requestApp',
        id: opts.id,
        chainId,
        validators: nodeKeys(opts.validators, '--validators'),
        observers: nodeKeys(opts.observers, '--observers'),
        plan: opts.plan,
        keyMode: opts.keyMode as 'upload',
        accessPolicy: opts.accessPolicy as 'open',
      });
      print(JSON.stringify(receipt));
      refusedIfFailed(receipt);
      print(JSON.stringify(await call(opts.url, 'gov_getApp', [opts.id])));
    },
  );

  app
    .command('list')
    .description('list the apps of the system ledger, one JSON line each')
    .requiredOption('--url <url>', "a node's system ledger endpoint")
    .option('--status <status>', 'only pending, active, suspended or archived apps')
    .option('--owner <address>', "only this owner's apps")
    .action(async (opts: { url: string; status?: string; owner?: string }) => {
      const filter = {
        ...(opts.status ? { status: opts.status } : {}),
        ...(opts.owner ? { owner: opts.owner.toLowerCase() } : {}),
      };
      for (const a of await call<unknown[]>(opts.url, 'gov_listApps', [filter])) print(JSON.stringify(a));
    });

  app
    .command('show')
    .description("show an app's record")
    .requiredOption('--url <url>', "a node's system ledger endpoint")
    .requiredOption('--id <id>', 'the app id')
    .action(async (opts: { url: string; id: string }) => {
      const record = await call(opts.url, 'gov_getApp', [opts.id]);
      if (record === null) {
        throw new CliError(
          { code: CliErrorCode.INVALID_OPTION, option: '--id', value: opts.id },
          `there is no app "${opts.id}"`,
          {
            hint: '`polis app list --url ...` lists the apps',
          },
        );
      }
      print(JSON.stringify(record));
    });

  addSignerOptions(
    app
      .command('suspend')
      .description('propose to suspend an app (an admin; it takes effect once the threshold of admins signs)')
      .requiredOption('--id <id>', 'the app id')
      .option('--resume', 'propose to resume it instead'),
  ).action(async (opts: SignerOptions & { id: string; resume?: boolean }) => {
    const action = { type: opts.resume ? 'resumeApp' : 'suspendApp', appId: opts.id } as const;
    const receipt = await sendAndWait(opts, { type: 'propose', action, expiresAt: Date.now() + 7 * 24 * 3_600_000 });
    print(JSON.stringify(receipt));
    refusedIfFailed(receipt);
  });
  const keys = app
    .command('keys')
    .description(
      "create and revoke API keys in the system ledger's registry or an access file; list and rotate them in an access file",
    );

  keys
    .command('create')
    .description(
      "create an API key for an app, in the system ledger's registry (--url, signed by the app owner) or in an access file; it is printed once, and only its salted hash is stored",
    )
    .option('--access-file <file>', "the network's access file (a node config's gateway.accessFile)")
    .option('--url <url>', "a node's system ledger endpoint: the key goes to the registry, for every gateway")
    .option('--key <file>', "with --url: the app owner's secp256k1 key file")
    .option('--password-file <file>', 'with --key: read its password from this file (default: $POLIS_PASSWORD)')
    .option('--dev-account <i>', 'with --url on a dev network: sign as development account i')
    .requiredOption('--app <id>', 'the app id')
    .option('--scopes <list>', `comma-separated scopes: ${SCOPES.join(', ')}`, 'read,write')
    .option('--plan <name>', "set the app's plan (free, standard, dedicated, or one the file defines)")
    .option('--label <text>', 'a note to recognise the key by')
    .option('--methods <list>', 'allow only these JSON-RPC methods')
    .option('--origins <list>', 'allow only these browser origins (CORS)')
    .option('--ips <list>', 'allow only these client IP addresses')
    .option('--contracts <list>', 'allow transactions and calls to these contracts only')
    .action(async (opts: CreateOptions & Partial<SignerOptions>) => {
      const scopes = parseScopes(opts.scopes);
      const target = keysTarget(opts);
      const { key, record } = createApiKey({
        appId: opts.app,
        scopes,
        label: opts.label ?? '',
        methods: list(opts.methods),
        origins: list(opts.origins),
        ips: list(opts.ips),
        contracts: list(opts.contracts),
      });
      if (target.url !== undefined) {
        const receipt = await sendAndWait(
          { ...opts, url: target.url },
          {
            type: 'putApiKey',
            appId: opts.app,
            key: { ...record, contracts: record.contracts as `0x${string}`[] },
          },
        );
        refusedIfFailed(receipt);
        print(JSON.stringify({ id: record.id, app: opts.app, scopes, key }));
        return;
      }
      const path = target.accessFile;
      const file = readAccessFile(path);
      const plan = opts.plan ?? file.apps[opts.app]?.plan ?? 'free';
      if (!(plan in file.plans)) {
        throw new CliError(
          { code: CliErrorCode.INVALID_OPTION, option: '--plan', value: plan },
          `there is no plan "${plan}" in ${path}`,
          {
            hint: `Use one of: ${Object.keys(file.plans).join(', ')}`,
          },
        );
      }
      file.apps[opts.app] = { plan };
      file.keys.push(record);
      writeAccessFile(path, file);
      print(JSON.stringify({ id: record.id, app: opts.app, scopes, plan, key }));
    });

  keys
    .command('list')
    .description(
      'list the keys (ids, scopes, allowlists, revocation; never secrets), from the registry (--url) or an access file',
    )
    .option('--access-file <file>', "the network's access file")
    .option('--url <url>', "a node's system ledger endpoint")
    .option('--app <id>', 'only the keys of this app (needed with --url)')
    .action(async (opts: { accessFile?: string; url?: string; app?: string }) => {
      const target = keysTarget(opts);
      if (target.url !== undefined) {
        const app = needApp(opts.app, 'whose keys to list');
        for (const k of await call<unknown[]>(target.url, 'gov_listApiKeys', [app])) print(JSON.stringify(k));
        return;
      }
      const file = readAccessFile(target.accessFile);
      for (const k of file.keys) {
        if (opts.app !== undefined && k.appId !== opts.app) continue;
        const { salt: _salt, hash: _hash, ...shown } = k;
        print(JSON.stringify(shown));
      }
    });

  const revoke = (path: string, id: string, now: number) => {
    const file = readAccessFile(path);
    const record = file.keys.find((k) => k.id === id);
    if (!record) {
      throw new CliError({ code: CliErrorCode.INVALID_OPTION, option: '--id', value: id }, `there is no key ${id} in ${path}`, {
        hint: '`polis app keys list --access-file <file>` shows the key ids',
      });
    }
    record.revokedAt ??= now;
    writeAccessFile(path, file);
    return { file, record };
  };

  keys
    .command('revoke')
    .description(
      'revoke a key, in the registry (--url, by the app owner) or in an access file; every gateway refuses it within seconds',
    )
    .option('--access-file <file>', "the network's access file")
    .option('--url <url>', "a node's system ledger endpoint")
    .option('--app <id>', 'with --url: the app id')
    .option('--key <file>', "with --url: the app owner's secp256k1 key file")
    .option('--password-file <file>', 'with --key: read its password from this file (default: $POLIS_PASSWORD)')
    .option('--dev-account <i>', 'with --url on a dev network: sign as development account i')
    .requiredOption('--id <id>', 'the key id (the 16 hex digits after pk_)')
    .action(async (opts: Partial<SignerOptions> & { accessFile?: string; app?: string; id: string }) => {
      const target = keysTarget(opts);
      if (target.url !== undefined) {
        const app = needApp(opts.app, 'whose key to revoke');
        const at = Date.now();
        const receipt = await sendAndWait({ ...opts, url: target.url }, { type: 'revokeApiKey', appId: app, keyId: opts.id, at });
        refusedIfFailed(receipt);
        print(JSON.stringify({ id: opts.id, app, revokedAt: at }));
        return;
      }
      const { record } = revoke(target.accessFile, opts.id, Date.now());
      print(JSON.stringify({ id: record.id, app: record.appId, revokedAt: record.revokedAt }));
    });

  keys
    .command('rotate')
    .description(
      'replace a key: a new key with the same scopes and allowlists, and the old one revoked (in the registry with --url, or an access file)',
    )
    .option('--access-file <file>', "the network's access file")
    .option('--url <url>', "a node's system ledger endpoint")
    .option('--app <id>', 'with --url: the app id')
    .option('--key <file>', "with --url: the app owner's secp256k1 key file")
    .option('--password-file <file>', 'with --key: read its password from this file (default: $POLIS_PASSWORD)')
    .option('--dev-account <i>', 'with --url on a dev network: sign as development account i')
    .requiredOption('--id <id>', 'the key id to replace')
    .action(async (opts: Partial<SignerOptions> & { accessFile?: string; app?: string; id: string }) => {
      const target = keysTarget(opts);
      if (target.url !== undefined) {
        const app = needApp(opts.app, 'whose key to rotate');
        const records = await call<Array<ApiKeyShown>>(target.url, 'gov_listApiKeys', [app]);
        const old = records.find((k) => k.id === opts.id.toLowerCase());
        if (!old) {
          throw new CliError(
            { code: CliErrorCode.INVALID_OPTION, option: '--id', value: opts.id },
            `app "${app}" has no key ${opts.id} in the registry`,
            { hint: `\`polis app keys list --url ${target.url} --app ${app}\` shows its key ids` },
          );
        }
        const { key, record: fresh } = createApiKey({
          appId: app,
          scopes: [...old.scopes],
          label: old.label,
          methods: [...old.methods],
          origins: [...old.origins],
          ips: [...old.ips],
          contracts: [...old.contracts],
          limits: old.limits,
        });
        // The new key first, so that the app is never without one; then the old one goes.
        const signer = { ...opts, url: target.url };
        refusedIfFailed(
          await sendAndWait(signer, {
            type: 'putApiKey',
            appId: app,
            key: { ...fresh, contracts: fresh.contracts as `0x${string}`[] },
          }),
        );
        refusedIfFailed(await sendAndWait(signer, { type: 'revokeApiKey', appId: app, keyId: old.id, at: Date.now() }));
        print(JSON.stringify({ id: fresh.id, app, scopes: fresh.scopes, replaces: old.id, key }));
        return;
      }
      const path = target.accessFile;
      const { file, record } = revoke(path, opts.id, Date.now());
      const { key, record: fresh } = createApiKey({
        appId: record.appId,
        scopes: record.scopes,
        label: record.label,
        methods: record.methods,
        origins: record.origins,
        ips: record.ips,
        contracts: record.contracts,
        limits: record.limits,
      });
      file.keys.push(fresh);
      writeAccessFile(path, file);
      print(JSON.stringify({ id: fresh.id, app: fresh.appId, scopes: fresh.scopes, replaces: record.id, key }));
    });
}
