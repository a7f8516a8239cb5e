/**
 * Foundry's `cast` (the real binary, from the npm package @foundry-rs/cast-linux-amd64) against
 * the gateway: `cast block-number`, `cast send` of an ERC-20 transfer and `cast call` of its
 * balance, with the API key in the URL as a Foundry user would paste it.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { type Abi, createPublicClient, createWalletClient, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevNode, startDevNode } from './devNode.js';
import { compileTestToken } from './fixtures/compile.js';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const CAST = join(dirname(require.resolve('@foundry-rs/cast-linux-amd64/package.json')), 'bin', 'cast');
const SUPPLY = 10n ** 24n;

let dev: DevNode;
let token: `0x${string}`;

/** Runs cast with a clean environment (no user config), and returns its trimmed stdout. */
async function cast(...args: string[]): Promise<string> {
  const { stdout } = await run(CAST, args, {
    timeout: 60_000,
    env: { PATH: process.env.PATH ?? '', HOME: dev.dir, NO_COLOR: '1' },
  });
  return stdout.trim();
}

beforeAll(async () => {
  const [node, compiled] = await Promise.all([startDevNode(), compileTestToken()]);
  dev = node;
  const account = privateKeyToAccount(dev.accounts[0]?.privateKey as `0x${string}`);
  const chain = {
    id: dev.chainId,
    name: 'polis',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [dev.rpcUrl] } },
  };
  const wallet = createWalletClient({ chain, transport: http(dev.rpcUrl), account });
  const pub = createPublicClient({ chain, transport: http(dev.rpcUrl), pollingInterval: 20 });
  const hash = await wallet.deployContract({ abi: compiled.abi as unknown as Abi, bytecode: compiled.bytecode, args: [SUPPLY] });
  token = (await pub.waitForTransactionReceipt({ hash })).contractAddress as `0x${string}`;
}, 60_000);

afterAll(async () => {
  await dev?.close();
});

describe('cast', () => {
  it('default: cast block-number agrees with eth_blockNumber', async () => {
    const before = await fetch(dev.rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: [] }),
    }).then(async (r) => Number(((await r.json()) as { result: string }).result));
    const n = Number(await cast('block-number', '--rpc-url', dev.rpcUrl));
    expect(n).toBeGreaterThanOrEqual(before);
    expect(n).toBeLessThan(before + 50);
  });

  it('default: cast send transfers tokens and cast call reads the new balance', async () => {
    const to = dev.accounts[3]?.address as string;
    const sent = await cast(
      'send',
      token,
      'transfer(address,uint256)',
      to,
      '12345',
      '--private-key',
      dev.accounts[0]?.privateKey as string,
      '--rpc-url',
      dev.rpcUrl,
      '--json',
    );
    const receipt = JSON.parse(sent) as { status: string; transactionHash: string; blockNumber: string };
    expect(receipt.status).toBe('0x1');
    expect(receipt.transactionHash).toMatch(/^0x[0-9a-f]{64}$/);
    const balance = await cast('call', token, 'balanceOf(address)(uint256)', to, '--rpc-url', dev.rpcUrl);
    expect(balance.split(' ')[0]).toBe('12345');
    const sender = await cast(
      'call',
      token,
      'balanceOf(address)(uint256)',
      dev.accounts[0]?.address as string,
      '--rpc-url',
      dev.rpcUrl,
    );
    expect(BigInt(sender.split(' ')[0] as string)).toBe(SUPPLY - 12345n);
  });

  it('behavior: an unfunded account is told to send with a gas price of 0, and then its transfer commits', async () => {
    // cast adds a 1 wei tip by default, which an account without ether cannot pay.
    const unfunded = `0x${'5a'.repeat(32)}`;
    const args = ['send', token, 'approve(address,uint256)', dev.accounts[4]?.address as string, '1', '--private-key', unfunded];
    const refused = await cast(...args, '--rpc-url', dev.rpcUrl).then(
      () => '',
      (e: { stderr?: string }) => e.stderr ?? '',
    );
    expect(refused).toMatch(/insufficient funds.*--gas-price 0 --priority-gas-price 0/s);
    const sent = JSON.parse(
      await cast(...args, '--gas-price', '0', '--priority-gas-price', '0', '--rpc-url', dev.rpcUrl, '--json'),
    );
    expect(sent.status).toBe('0x1');
  });

  it('error: cast with a wrong key reports the 401 and its reason', async () => {
    const bad = dev.rpcUrl.replace(/pk_[0-9a-f]{16}_.*$/, `pk_${'0'.repeat(16)}_${'A'.repeat(43)}`);
    const err = await cast('block-number', '--rpc-url', bad).then(
      () => '',
      (e: { stderr?: string }) => e.stderr ?? '',
    );
    expect(err).toMatch(/401|not valid/);
  });
});
