/** REST routes about the app itself: its info and its usage. */
import { z } from 'zod';
import { type AnyRoute, defineRoute } from './route.js';

const UsageSchema = z.object({
  requests: z.number(),
  txs: z.number(),
  gasUsed: z.string().describe('Decimal'),
  bytesIn: z.number(),
  bytesOut: z.number(),
  storageBytes: z.number(),
  throttled: z.number(),
});

export const appRoutes: AnyRoute[] = [
  defineRoute({
    method: 'GET',
    path: '/api/v1/apps/{id}',
    summary: 'The app: its chain id, plan and limits, and its ledger head',
    tag: 'app',
    scope: 'read',
    response: z.object({
      id: z.string(),
      chainId: z.number(),
      plan: z.string(),
      limits: z.object({
        requestsPerSec: z.number(),
        txPerSec: z.number(),
        bytesInPerSec: z.number(),
        bytesOutPerSec: z.number(),
      }),
      height: z.number(),
      key: z.object({ id: z.string(), scopes: z.array(z.string()) }),
    }),
    handler: ({ ledger, auth }) => ({
      id: ledger.id,
      chainId: ledger.chainId,
      plan: auth.principal.planName,
      limits: auth.principal.plan,
      height: ledger.chain.head(),
      key: { id: auth.principal.key.id, scopes: auth.principal.key.scopes },
    }),
  }),
];

/** The usage route needs the meter and the key list, so it is built with them. */
export function usageRoute(
  usage: (appId: string) => { since: number; total: Record<string, unknown>; keys: Record<string, Record<string, unknown>> },
): AnyRoute {
  return defineRoute({
    method: 'GET',
    path: '/api/v1/apps/{id}/usage',
    summary: "The app's metered usage since this gateway started, in total and per key (owner's admin key)",
    tag: 'app',
    scope: 'admin',
    response: z.object({ app: z.string(), since: z.number(), total: UsageSchema, keys: z.record(z.string(), UsageSchema) }),
    handler: ({ ledger }) => ({ app: ledger.id, ...usage(ledger.id) }),
  });
}
