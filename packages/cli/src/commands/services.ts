/**
 * `polis records|identity|certificates`: the built-in services of an app (issue P7) through a
 * gateway's REST routes, with the SDK. `call` runs a view function, `send` a writing one from a
 * custodial account; records also have `add`, `get`, `list`, `proof` and `verify`, which checks a
 * saved proof offline against the validator keys you trust.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  createServicesClient,
  type RecordProof,
  ServiceCallError,
  type ServiceName,
  type ValidatorInfo,
  verifyRecordProof,
} from '@polis/sdk';
import type { Command } from 'commander';
import { CliError, CliErrorCode } from '../password.js';

type GatewayOptions = { api: string; app: string; apiKey?: string };

function withGateway(c: Command): Command {
  return c
    .option('--api <url>', "the gateway's base URL", 'http://127.0.0.1:8545')
    .option('--app <id>', 'the app id', 'demo')
    .option('--api-key <key>', 'an API key of the app (default: $POLIS_API_KEY)');
}

function clientOf(o: GatewayOptions) {
  const apiKey = o.apiKey ?? process.env.POLIS_API_KEY;
  if (!apiKey) {
    throw new CliError({ code: CliErrorCode.INVALID_OPTION, option: '--api-key', value: '' }, 'an API key is needed', {
      hint: '`polis dev --json` prints one per app; pass it with --api-key or $POLIS_API_KEY',
    });
  }
  return createServicesClient({ baseUrl: o.api, appId: o.app, apiKey });
}

/** A command-line argument as JSON when it parses (numbers, arrays, true), else as the string it is. */
function argValue(raw: string): unknown {
  if (/^0x[0-9a-fA-F]*$/.test(raw)) return raw;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** Runs `fn`, turning the gateway's refusals into CLI errors that say what it said. */
async function refusalsAsErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ServiceCallError) {
      throw new CliError({ code: CliErrorCode.REFUSED, reason: err.code }, `the gateway answered ${err.status}: ${err.message}`);
    }
    throw err;
  }
}

function registerGeneric(parent: Command, service: ServiceName, print: (line: string) => void): void {
  withGateway(
    parent
      .command('call')
      .description(`run a view function of the ${service} service`)
      .argument('<function>')
      .argument('[args...]'),
  ).action(async (fn: string, args: string[], o: GatewayOptions) => {
    print(JSON.stringify(await refusalsAsErrors(() => clientOf(o).call(service, fn, args.map(argValue)))));
  });
  withGateway(
    parent
      .command('send')
      .description(`call a writing function of the ${service} service from a custodial account, and wait for its block`)
      .argument('<function>')
      .argument('[args...]')
      .requiredOption('--from <address>', 'a custodial account of the app (POST /accounts/custodial creates one)'),
  ).action(async (fn: string, args: string[], o: GatewayOptions & { from: `0x${string}` }) => {
    const sent = await refusalsAsErrors(() =>
      clientOf(o).send(service, { from: o.from, functionName: fn, args: args.map(argValue) }),
    );
    print(JSON.stringify(sent));
  });
}

function parseValidators(value: string): ValidatorInfo[] {
  return value.split(',').map((entry) => {
    const [key, power] = entry.trim().split(':');
    if (!key || !/^0x[0-9a-fA-F]{64}$/.test(key) || (power !== undefined && !/^[1-9]\d*$/.test(power))) {
      throw new CliError(
        { code: CliErrorCode.INVALID_OPTION, option: '--validators', value },
        '--validators must list Ed25519 public keys (0x and 64 hex digits), each optionally :power',
      );
    }
    return { publicKey: key.toLowerCase() as `0x${string}`, power: power === undefined ? 1 : Number(power) };
  });
}

/** Registers the service commands on `program`. */
export function registerServiceCommands(program: Command, print: (line: string) => void): void {
  const records = program
    .command('records')
    .description('the records (notary) service: prove a hash existed, unaltered, at a time');
  registerGeneric(records, 'records', print);
  withGateway(
    records
      .command('add')
      .description('record a hash from a custodial account')
      .argument('<hash>', '32 bytes, 0x hex')
      .requiredOption('--from <address>', 'a custodial account of the app')
      .option('--tag <bytes32>', 'a tag to find it by')
      .option('--meta <hex>', 'metadata (logged; its hash is stored)'),
  ).action(
    async (hash: `0x${string}`, o: GatewayOptions & { from: `0x${string}`; tag?: `0x${string}`; meta?: `0x${string}` }) => {
      print(
        JSON.stringify(
          await refusalsAsErrors(() =>
            clientOf(o).records.add({
              from: o.from,
              hash,
              ...(o.tag ? { tag: o.tag } : {}),
              ...(o.meta ? { meta: o.meta } : {}),
            }),
          ),
        ),
      );
    },
  );
  withGateway(records.command('get').description('read a record by hash').argument('<hash>')).action(
    async (hash: `0x${string}`, o: GatewayOptions) => {
      print(JSON.stringify(await refusalsAsErrors(() => clientOf(o).records.get(hash))));
    },
  );
  withGateway(
    records
      .command('list')
      .description('list records by submitter and/or tag, one JSON line each')
      .option('--submitter <address>')
      .option('--tag <bytes32>'),
  ).action(async (o: GatewayOptions & { submitter?: `0x${string}`; tag?: `0x${string}` }) => {
    const list = await refusalsAsErrors(() =>
      clientOf(o).records.list({ ...(o.submitter ? { submitter: o.submitter } : {}), ...(o.tag ? { tag: o.tag } : {}) }),
    );
    for (const r of list) print(JSON.stringify(r));
  });
  withGateway(
    records
      .command('proof')
      .description("print a record's proof bundle (save it; `polis records verify` checks it offline)")
      .argument('<hash>'),
  ).action(async (hash: `0x${string}`, o: GatewayOptions) => {
    print(JSON.stringify(await refusalsAsErrors(() => clientOf(o).records.proof(hash))));
  });
  records
    .command('verify')
    .description('check a saved proof bundle offline, against the validator keys you trust; exits 1 when it does not hold')
    .requiredOption('--file <path>', 'the bundle `polis records proof` printed')
    .requiredOption('--validators <keys>', "the header's validator set, in order: 0x<key>[:power],...")
    .action((o: { file: string; validators: string }) => {
      let bundle: RecordProof;
      try {
        bundle = JSON.parse(readFileSync(resolve(o.file), 'utf8')) as RecordProof;
      } catch {
        throw new CliError({ code: CliErrorCode.FILE_UNREADABLE, path: o.file }, `cannot read a proof bundle from ${o.file}`);
      }
      const r = verifyRecordProof(bundle, parseValidators(o.validators));
      if (!r.valid) throw new CliError({ code: CliErrorCode.REFUSED, reason: r.reason }, `the proof does not hold: ${r.reason}`);
      print(JSON.stringify({ valid: true, record: r.record }));
    });

  registerGeneric(
    program.command('identity').description('the identity service: DIDs, roles, attestations and the account policy'),
    'identity',
    print,
  );
  registerGeneric(
    program
      .command('certificates')
      .description('the certificates service: issuer-controlled collections of digital certificates'),
    'certificates',
    print,
  );
}
