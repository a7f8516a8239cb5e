/**
 * `polis admin propose|sign|list`: alliance governance on the system ledger (ADR 0006). An admin
 * proposes an action (JSON, as `@polis/governance` defines actions) or approves ("signs") an open
 * proposal; the command signs the governance transaction with the admin's secp256k1 key, sends it
 * to a node's `POST /v1/system`, waits for its block and prints the receipt.
 */
import { bytesToHex, decryptKeystore, hexToBytes, privateKeyToAddress } from '@polis/core';
import { type Action, encodeGovTx, type GovBody, type GovTx, signGovTxSecp256k1 } from '@polis/governance';
import { devAccount } from '@polis/node';
import type { Command } from 'commander';
import { CliError, CliErrorCode, readPassword, readTextFile } from '../password.js';

type Print = (line: string) => void;
export type SignerOptions = { url: string; key?: string; passwordFile?: string; devAccount?: string };

const RECEIPT_WAIT_MS = 30_000;

export async function call<T>(url: string, method: string, params: unknown[] = []): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (cause) {
    throw new CliError({ code: CliErrorCode.INVALID_OPTION, option: '--url', value: url }, `cannot reach ${url}`, {
      hint: "Give a node's system ledger endpoint, e.g. http://127.0.0.1:8545/v1/system",
      cause,
    });
  }
  const body = (await res.json().catch(() => ({}))) as { result?: T; error?: { message: string } };
  if (body.error)
    throw new CliError({ code: CliErrorCode.REFUSED, reason: body.error.message }, `${method}: ${body.error.message}`);
  return body.result as T;
}

export function signerKey(opts: SignerOptions): Uint8Array {
  if (opts.devAccount !== undefined) {
    const i = Number(opts.devAccount);
    if (!Number.isInteger(i) || i < 0 || i > 9) {
      throw new CliError(
        { code: CliErrorCode.INVALID_OPTION, option: '--dev-account', value: opts.devAccount },
        '--dev-account must be 0 to 9',
      );
    }
    return hexToBytes(devAccount(i).privateKey);
  }
  if (opts.key === undefined) {
    throw new CliError({ code: CliErrorCode.INVALID_OPTION, option: '--key', value: '' }, 'no signing key', {
      hint: "Give the admin's key file with --key (and --password-file or $POLIS_PASSWORD), or --dev-account on a dev network",
    });
  }
  const { secret, keyType } = decryptKeystore(readTextFile(opts.key), readPassword(opts.passwordFile));
  if (keyType !== 'secp256k1') {
    throw new CliError(
      { code: CliErrorCode.INVALID_OPTION, option: '--key', value: opts.key },
      `${opts.key} is an ${keyType} key`,
      {
        hint: 'Admins sign with secp256k1 (Ethereum) keys: `polis key new --type secp256k1`',
      },
    );
  }
  return secret;
}

/**
 * Signs a governance transaction with the signer's next nonce (`sign` gets the chain id and the
 * nonce), sends it to `url` and waits for its receipt.
 */
export async function submitGovTx(
  url: string,
  signer: string,
  sign: (chainId: number, nonce: number) => GovTx,
): Promise<Record<string, unknown>> {
  const [chainId, nonce] = await Promise.all([call<number>(url, 'gov_chainId'), call<number>(url, 'gov_getNonce', [signer])]);
  let raw: string;
  try {
    raw = bytesToHex(encodeGovTx(sign(chainId, nonce)));
  } catch (cause) {
    throw new CliError(
      { code: CliErrorCode.REFUSED, reason: 'invalid' },
      `the transaction is invalid: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
  const hash = await call<string>(url, 'gov_sendTransaction', [raw]);
  const until = Date.now() + RECEIPT_WAIT_MS;
  while (Date.now() < until) {
    const receipt = await call<Record<string, unknown> | null>(url, 'gov_getReceipt', [hash]);
    if (receipt) return { signer, ...receipt };
    await new Promise((done) => setTimeout(done, 100));
  }
  return { signer, hash, status: 'pending' };
}

/** Signs `body` with the signer's secp256k1 key and submits it. */
export function sendAndWait(opts: SignerOptions, body: GovBody): Promise<Record<string, unknown>> {
  const key = signerKey(opts);
  return submitGovTx(opts.url, bytesToHex(privateKeyToAddress(key)), (chainId, nonce) =>
    signGovTxSecp256k1({ chainId, nonce, body }, key),
  );
}

/** A failed receipt is an error of the command (exit 1), after the receipt is printed. */
export function refusedIfFailed(receipt: Record<string, unknown>): void {
  if (receipt.status !== 'failed') return;
  const error = receipt.error as { code: string; message: string } | undefined;
  throw new CliError(
    { code: CliErrorCode.REFUSED, reason: error?.code ?? 'failed' },
    `the system ledger included the transaction but refused it: ${error?.code}: ${error?.message}`,
  );
}

export function addSignerOptions(c: Command): Command {
  return c
    .requiredOption('--url <url>', "a node's system ledger endpoint, e.g. http://127.0.0.1:8545/v1/system")
    .option('--key <file>', "the admin's secp256k1 key file")
    .option('--password-file <file>', 'read the key password from this file (default: $POLIS_PASSWORD)')
    .option('--dev-account <i>', 'dev networks: sign with development account i');
}

/** Registers `admin` on `program`. */
export function registerAdminCommands(program: Command, print: Print): void {
  const admin = program.command('admin').description('alliance governance on the system ledger: propose, sign and list actions');

  addSignerOptions(
    admin
      .command('propose')
      .description('propose an action; it runs once the threshold of admins has signed it')
      .requiredOption(
        '--action <json>',
        'the action, e.g. \'{"type":"setPlan","name":"gold","limits":{...}}\' or \'{"type":"suspendNode","publicKey":"0x..."}\'',
      )
      .option('--expires-in-hours <h>', 'approvals after this are refused', '168'),
  ).action(async (opts: SignerOptions & { action: string; expiresInHours: string }) => {
    let action: Action;
    try {
      action = JSON.parse(opts.action) as Action;
    } catch {
      throw new CliError(
        { code: CliErrorCode.INVALID_OPTION, option: '--action', value: opts.action },
        '--action is not valid JSON',
      );
    }
    const hours = Number(opts.expiresInHours);
    if (!Number.isFinite(hours) || hours <= 0) {
      throw new CliError(
        { code: CliErrorCode.INVALID_OPTION, option: '--expires-in-hours', value: opts.expiresInHours },
        '--expires-in-hours must be a positive number',
      );
    }
    const receipt = await sendAndWait(opts, { type: 'propose', action, expiresAt: Date.now() + Math.round(hours * 3_600_000) });
    print(JSON.stringify(receipt));
    refusedIfFailed(receipt);
  });

  addSignerOptions(
    admin.command('sign').description('approve an open proposal').requiredOption('--proposal <id>', 'the proposal id'),
  ).action(async (opts: SignerOptions & { proposal: string }) => {
    const id = Number(opts.proposal);
    if (!Number.isSafeInteger(id) || id < 1) {
      throw new CliError(
        { code: CliErrorCode.INVALID_OPTION, option: '--proposal', value: opts.proposal },
        '--proposal must be a positive integer',
        {
          hint: '`polis admin list --url ...` shows the proposals',
        },
      );
    }
    const receipt = await sendAndWait(opts, { type: 'approve', proposalId: id });
    print(JSON.stringify(receipt));
    refusedIfFailed(receipt);
  });

  admin
    .command('list')
    .description('list proposals, one JSON line each')
    .requiredOption('--url <url>', "a node's system ledger endpoint")
    .option('--status <status>', 'only open, executed, failed or expired proposals')
    .action(async (opts: { url: string; status?: string }) => {
      const proposals = await call<Array<Record<string, unknown>>>(
        opts.url,
        'gov_listProposals',
        opts.status ? [opts.status] : [],
      );
      for (const p of proposals) print(JSON.stringify(p));
    });
}
