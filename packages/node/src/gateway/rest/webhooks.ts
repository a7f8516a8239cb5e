/**
 * REST routes of webhooks: an app's admin key creates, lists and deletes the app's webhook
 * subscriptions and reads their recent deliveries. The schemas here validate the requests and
 * document them; `gateway/webhooks.ts` stores the hooks and delivers the events.
 */
import { z } from 'zod';
import type { GatewayLedger } from '../context.js';
import { type AnyRoute, defineRoute } from './route.js';

/** Webhooks one app may have. */
export const HOOKS_PER_APP_MAX = 100;
/** Addresses one `logs` filter may list. */
export const FILTER_ADDRESSES_MAX = 100;
/** Alternatives one topic position of a `logs` filter may list. */
export const FILTER_TOPIC_OPTIONS_MAX = 16;
/** Transaction hashes one `tx` filter may list. */
export const FILTER_TX_HASHES_MAX = 100;
/** Length of a `notifyUrl`. */
export const NOTIFY_URL_LENGTH_MAX = 2048;
/** Length of a hook's description. */
export const DESCRIPTION_LENGTH_MAX = 256;
/** Deliveries one list answer holds at most. */
export const DELIVERIES_LIST_MAX = 1000;

const Address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, { message: 'must be a 20-byte address: 0x and 40 hex digits' })
  .describe('A 20-byte address, 0x-hex');
const Topic = z
  .string()
  .regex(/^0x[0-9a-fA-F]{64}$/, { message: 'must be a 32-byte topic: 0x and 64 hex digits' })
  .describe('A 32-byte topic, 0x-hex');
const TxHash = z
  .string()
  .regex(/^0x[0-9a-fA-F]{64}$/, { message: 'must be a 32-byte transaction hash: 0x and 64 hex digits' })
  .describe('A 32-byte transaction hash, 0x-hex');

/** Whether `value` is an absolute http(s) URL without credentials. */
function isNotifyUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === '';
}

/** The events a hook receives: logs (as `eth_getLogs` filters them), every block, or transaction outcomes. */
export const WebhookEventsSchema = z.discriminatedUnion('type', [
  z
    .strictObject({
      type: z.literal('logs'),
      address: z
        .union([Address, z.array(Address).min(1).max(FILTER_ADDRESSES_MAX)])
        .optional()
        .describe('Only logs of this contract (or of one of these)'),
      topics: z
        .array(z.union([Topic, z.array(Topic).min(1).max(FILTER_TOPIC_OPTIONS_MAX), z.null()]))
        .max(4)
        .optional()
        .describe('Per position: a topic, any of several, or null for any (as in eth_getLogs)'),
    })
    .describe('One delivery per matching log'),
  z.strictObject({ type: z.literal('blocks') }).describe('One delivery per committed block'),
  z
    .strictObject({
      type: z.literal('tx'),
      hashes: z.array(TxHash).min(1).max(FILTER_TX_HASHES_MAX).optional().describe('Only these transactions'),
      from: Address.optional().describe('Only transactions sent by this account'),
      to: Address.optional().describe('Only transactions sent to this account or contract'),
    })
    .describe('One delivery per committed transaction (status success or failed) that matches every given field'),
]);

/** The events a hook receives, as validated. */
export type WebhookEvents = z.infer<typeof WebhookEventsSchema>;

const CreateBodySchema = z.strictObject({
  notifyUrl: z
    .string()
    .max(NOTIFY_URL_LENGTH_MAX)
    .refine(isNotifyUrl, { message: 'notifyUrl must be an absolute http:// or https:// URL without user:password' })
    .describe('Where deliveries are POSTed: an absolute http:// or https:// URL'),
  events: WebhookEventsSchema,
  description: z.string().max(DESCRIPTION_LENGTH_MAX).optional(),
});

/** What creating a hook takes. */
export type CreateWebhookBody = z.infer<typeof CreateBodySchema>;

const HookSchema = z.object({
  id: z.string(),
  app: z.string(),
  notifyUrl: z.string(),
  events: WebhookEventsSchema,
  description: z.string().optional(),
  createdAt: z.number().describe('Unix milliseconds'),
  fromHeight: z.number().describe('The first block whose events the hook receives'),
  pending: z.number().describe('Deliveries waiting to be sent'),
  dropped: z.number().describe('Events not enqueued because the pending queue was full'),
});

/** A hook as the API shows it (never with its secret). */
export type WebhookJson = z.infer<typeof HookSchema>;

const CreatedSchema = HookSchema.extend({
  secret: z.string().describe('The HMAC-SHA256 key of the x-polis-signature header; shown only now, keep it'),
});

const DeliverySchema = z.object({
  id: z.string(),
  type: z.enum(['logs', 'blocks', 'tx']),
  height: z.number(),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number(),
  createdAt: z.number(),
  lastAttemptAt: z.number().nullable(),
  lastStatus: z.number().nullable().describe('The HTTP status of the last answer, null when there was none'),
  lastError: z.string().nullable(),
  nextAttemptAt: z.number().nullable().describe('When the next try goes out, null once finished'),
  finishedAt: z.number().nullable(),
});

/** A delivery as the API shows it. */
export type DeliveryJson = z.infer<typeof DeliverySchema>;

const DeliveriesSchema = z.object({
  hookId: z.string(),
  pending: z.number(),
  pendingMax: z.number().describe('When this many wait, new events are dropped (and counted) until the receiver catches up'),
  dropped: z.number(),
  lastDroppedAt: z.number().nullable(),
  deliveries: z.array(DeliverySchema).describe('Newest event first: the pending ones and the most recent finished ones'),
});

/** A hook's deliveries as the API shows them. */
export type DeliveriesJson = z.infer<typeof DeliveriesSchema>;

/** What the routes need from the webhook store; each call is scoped to the app of `ledger`. */
export type WebhookService = {
  create(ledger: GatewayLedger, body: CreateWebhookBody): Promise<WebhookJson & { secret: string }>;
  list(ledger: GatewayLedger): WebhookJson[];
  /** Throws a 404 RestError when the app has no such hook. */
  remove(ledger: GatewayLedger, hookId: string): Promise<void>;
  /** Throws a 404 RestError when the app has no such hook. */
  deliveries(ledger: GatewayLedger, hookId: string, limit: number): DeliveriesJson;
};

const HookParams = z.object({
  hookId: z
    .string()
    .regex(/^wh_[0-9a-f]{32}$/, { message: 'must be a webhook id such as wh_ and 32 hex digits' })
    .describe('The webhook id'),
});

/** The webhook routes over `service`. */
export function webhookRoutes(service: WebhookService): AnyRoute[] {
  return [
    defineRoute({
      method: 'POST',
      path: '/api/v1/apps/{id}/webhooks',
      summary: 'Subscribes a URL to ledger events; the answer holds the signing secret, shown only once',
      tag: 'webhooks',
      scope: 'admin',
      body: CreateBodySchema,
      response: CreatedSchema,
      status: 201,
      errors: { 409: `The app already has ${HOOKS_PER_APP_MAX} webhooks` },
      handler: ({ ledger, body }) => service.create(ledger, body),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/apps/{id}/webhooks',
      summary: "The app's webhooks (without their secrets)",
      tag: 'webhooks',
      scope: 'admin',
      response: z.object({ webhooks: z.array(HookSchema) }),
      handler: ({ ledger }) => ({ webhooks: service.list(ledger) }),
    }),
    defineRoute({
      method: 'DELETE',
      path: '/api/v1/apps/{id}/webhooks/{hookId}',
      summary: 'Deletes a webhook with its pending deliveries; an attempt under way is cancelled',
      tag: 'webhooks',
      scope: 'admin',
      params: HookParams,
      response: z.object({ id: z.string(), deleted: z.literal(true) }),
      errors: { 404: 'The app has no such webhook' },
      handler: async ({ ledger, params }) => {
        await service.remove(ledger, params.hookId);
        return { id: params.hookId, deleted: true as const };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/apps/{id}/webhooks/{hookId}/deliveries',
      summary: "A webhook's pending and recent deliveries: status, attempts, last error and next try",
      tag: 'webhooks',
      scope: 'admin',
      params: HookParams,
      query: z.object({
        limit: z.coerce.number().int().min(1).max(DELIVERIES_LIST_MAX).default(100).describe('Deliveries to return'),
      }),
      response: DeliveriesSchema,
      errors: { 404: 'The app has no such webhook' },
      handler: ({ ledger, params, query }) => service.deliveries(ledger, params.hookId, query.limit),
    }),
  ];
}
