/**
 * Contracts from the portal: compile Solidity (the compiler's errors come back with line and
 * column), deploy it or an uploaded ABI and bytecode as a job whose steps the page shows, and call
 * a deployed contract's functions from a generated form (views are read, others are sent and their
 * receipt's logs decoded). Transactions are signed with the app's owner key through the gateway,
 * with the portal's own API key.
 */
import { isPolisError } from '@polis/core';
import {
  type Abi,
  type AbiFunction,
  createPublicClient,
  createWalletClient,
  decodeEventLog,
  defineChain,
  http,
  isAddress,
  type PublicClient,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { z } from 'zod';
import type { PortalApp } from '../apps.js';
import { compilerVersion, compileSolidity } from '../compile.js';
import { type PortalContext, type RouteModule, requireUser } from '../http.js';
import { Jobs } from '../jobs.js';
import { appFor } from './apps.js';

const Compile = z.object({ source: z.string().max(300_000) });
const Deploy = z
  .object({
    source: z.string().max(300_000).optional(),
    contractName: z.string().max(128).optional(),
    abi: z.array(z.record(z.string(), z.unknown())).max(2000).optional(),
    bytecode: z
      .string()
      .regex(/^0x([0-9a-fA-F]{2})+$/, 'must be 0x-prefixed hex')
      .max(100_000)
      .optional(),
    name: z.string().max(128).optional(),
    args: z.array(z.unknown()).max(64).default([]),
  })
  .refine((d) => d.source !== undefined || (d.abi !== undefined && d.bytecode !== undefined), {
    message: 'give either the Solidity source, or the ABI and the bytecode',
    path: ['source'],
  });
const Call = z.object({ function: z.string().min(1).max(256), args: z.array(z.unknown()).max(64).default([]) });

/** JSON cannot hold bigints: they travel as decimal strings. */
export function jsonSafe(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonSafe(v)]));
  return value;
}

/** Turns form values (strings) into what the ABI type wants: integers as bigints, booleans, arrays and tuples from JSON. */
export function coerceArg(type: string, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const text = value.trim();
  if (type.endsWith(']') || type.startsWith('tuple')) return JSON.parse(text);
  if (/^u?int\d*$/.test(type)) return BigInt(text);
  if (type === 'bool') return text === 'true' || text === '1';
  return text;
}

function clientsFor(ctx: PortalContext, app: PortalApp, gateway: string, portalKey: string, ownerKey: Uint8Array) {
  const chain = defineChain({
    id: app.chainId,
    name: app.appId,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [`${gateway}/v1/${app.appId}/${portalKey}`] } },
  });
  const transport = http(`${gateway}/v1/${app.appId}/${portalKey}`, { timeout: 15_000 });
  const account = privateKeyToAccount(`0x${Buffer.from(ownerKey).toString('hex')}`);
  void ctx;
  return {
    publicClient: createPublicClient({ chain, transport, pollingInterval: 200 }) as PublicClient,
    walletClient: createWalletClient({ chain, transport, account }),
  };
}

function jobError(err: unknown) {
  if (isPolisError(err)) {
    const e = err as { code: string; shortMessage: string; hint?: string; toJSON(): { details: unknown } };
    return { code: e.code, message: e.shortMessage, ...(e.hint ? { hint: e.hint } : {}), details: e.toJSON().details };
  }
  const message = (err as { shortMessage?: string; message?: string }).shortMessage ?? (err as Error).message ?? String(err);
  return { code: 'DEPLOY_FAILED', message, hint: 'Check the constructor arguments and try again' };
}

function decodeLogs(abi: Abi, logs: readonly { address: string; data: `0x${string}`; topics: readonly `0x${string}`[] }[]) {
  return logs.map((log) => {
    try {
      const decoded = decodeEventLog({ abi, data: log.data, topics: log.topics as [`0x${string}`, ...`0x${string}`[]] });
      return { address: log.address, event: decoded.eventName, args: jsonSafe(decoded.args) };
    } catch {
      return { address: log.address, event: undefined, topics: log.topics, data: log.data };
    }
  });
}

/** The contract routes. */
export const contractRoutes: RouteModule = (app, ctx) => {
  const jobs = new Jobs();

  app.get('/api/compiler', async () => ({ version: compilerVersion() }));

  app.post('/api/apps/:id/compile', async (req) => {
    const user = await requireUser(ctx, req);
    await appFor(ctx, user, (req.params as { id: string }).id);
    const { source } = Compile.parse(req.body);
    return compileSolidity(source);
  });

  app.post('/api/apps/:id/contracts', async (req, reply) => {
    const user = await requireUser(ctx, req);
    const found = await appFor(ctx, user, (req.params as { id: string }).id, true);
    const body = Deploy.parse(req.body);
    const job = jobs.start(
      user.id,
      body.source !== undefined
        ? ['compiling', 'sending', 'waiting for the block', 'done']
        : ['sending', 'waiting for the block', 'done'],
      async (step) => {
        let abi = body.abi as unknown as Abi;
        let bytecode = body.bytecode as `0x${string}`;
        let name = body.name ?? 'Contract';
        if (body.source !== undefined) {
          step('compiling');
          const { contracts } = compileSolidity(body.source);
          const chosen = body.contractName
            ? contracts.find((c) => c.name === body.contractName)
            : contracts[contracts.length - 1];
          if (!chosen)
            throw new Error(
              `the source has no contract named ${body.contractName}; it has ${contracts.map((c) => c.name).join(', ')}`,
            );
          abi = chosen.abi as Abi;
          bytecode = chosen.bytecode;
          name = chosen.name;
        }
        step('sending');
        const [gateway] = await ctx.network.gatewaysFor(found.appId);
        const { publicClient, walletClient } = clientsFor(
          ctx,
          found,
          gateway as string,
          await ctx.apps.portalKey(found.appId),
          await ctx.apps.ownerKey(found.appId),
        );
        const ctor = abi.find((i) => i.type === 'constructor') as { inputs?: { type: string }[] } | undefined;
        const args = body.args.map((a, i) => coerceArg(ctor?.inputs?.[i]?.type ?? 'string', a));
        const hash = await walletClient.deployContract({
          abi,
          bytecode,
          args,
          account: walletClient.account,
          chain: walletClient.chain,
          gas: 10_000_000n,
        });
        step('waiting for the block');
        const receipt = await publicClient.waitForTransactionReceipt({ hash, timeout: 60_000 });
        if (receipt.status !== 'success' || !receipt.contractAddress)
          throw new Error(`the deployment reverted in block ${receipt.blockNumber}`);
        const contract = await ctx.apps.addContract({
          appId: found.appId,
          address: receipt.contractAddress,
          name,
          abi: abi as unknown[],
          ...(body.source !== undefined ? { source: body.source } : {}),
          txHash: hash,
          deployedBy: user.id,
          createdAt: ctx.now(),
        });
        step('done');
        return { contract, blockNumber: receipt.blockNumber.toString(), gasUsed: receipt.gasUsed.toString() };
      },
      jobError,
    );
    return reply.code(202).send({ job });
  });

  app.get('/api/jobs/:jobId', async (req) => {
    const user = await requireUser(ctx, req);
    const job = jobs.get((req.params as { jobId: string }).jobId, user.id);
    if (!job) throw Object.assign(new Error('no such operation'), { statusCode: 404, code: 'NOT_FOUND', hint: 'Start it again' });
    return { job };
  });

  app.get('/api/apps/:id/contracts', async (req) => {
    const user = await requireUser(ctx, req);
    const found = await appFor(ctx, user, (req.params as { id: string }).id);
    return { contracts: await ctx.apps.contracts(found.appId) };
  });

  app.post('/api/apps/:id/contracts/:address/call', async (req) => {
    const user = await requireUser(ctx, req);
    const params = req.params as { id: string; address: string };
    const body = Call.parse(req.body);
    const known = (await ctx.apps.contracts(params.id)).find((c) => c.address.toLowerCase() === params.address.toLowerCase());
    if (!isAddress(params.address) || !known) {
      throw Object.assign(new Error(`no contract ${params.address} deployed from the portal on this app`), {
        statusCode: 404,
        code: 'NOT_FOUND',
        hint: 'Pick one from the list of contracts',
      });
    }
    const abi = known.abi as Abi;
    const fn = abi.find((i): i is AbiFunction => i.type === 'function' && i.name === body.function);
    if (!fn)
      throw Object.assign(new Error(`the contract has no function ${body.function}`), {
        statusCode: 400,
        code: 'INVALID_INPUT',
        hint: 'Pick a function from the form',
      });
    const args = body.args.map((a, i) => coerceArg(fn.inputs[i]?.type ?? 'string', a));
    const readOnly = fn.stateMutability === 'view' || fn.stateMutability === 'pure';
    const found = await appFor(ctx, user, params.id, !readOnly);
    const [gateway] = await ctx.network.gatewaysFor(found.appId);
    const { publicClient, walletClient } = clientsFor(
      ctx,
      found,
      gateway as string,
      await ctx.apps.portalKey(found.appId),
      await ctx.apps.ownerKey(found.appId),
    );
    if (readOnly) {
      const result = await publicClient.readContract({
        address: known.address as `0x${string}`,
        abi,
        functionName: fn.name,
        args,
      });
      return { kind: 'read', result: jsonSafe(result) };
    }
    const hash = await walletClient.writeContract({
      address: known.address as `0x${string}`,
      abi,
      functionName: fn.name,
      args,
      account: walletClient.account,
      chain: walletClient.chain,
      gas: 5_000_000n,
    });
    const receipt = await publicClient.waitForTransactionReceipt({ hash, timeout: 60_000 });
    return {
      kind: 'transaction',
      hash,
      status: receipt.status,
      blockNumber: receipt.blockNumber.toString(),
      gasUsed: receipt.gasUsed.toString(),
      logs: decodeLogs(abi, receipt.logs),
    };
  });
};
