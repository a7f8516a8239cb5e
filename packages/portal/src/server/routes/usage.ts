/**
 * Usage and billing of an app: its hourly usage series (from the store, which the usage collector
 * fills) with the limits of its plan on the system ledger, and the bill of a month priced with
 * `PRICES`. Limits are per second on the network; a chart of hourly buckets compares each bucket
 * with the most the plan allows in an hour.
 */
import { z } from 'zod';
import { type PortalContext, type RouteModule, requireUser } from '../http.js';
import { bucketStart, monthlyBill, PRICES, USAGE_BUCKET_MS, USAGE_SERIES_BUCKETS_MAX, usageSeries } from '../store/index.js';
import { appFor } from './apps.js';

/** Hours a usage series covers when the request does not say. */
export const USAGE_DEFAULT_HOURS = 24;

const Ms = z.coerce.number().int().min(0).max(8_640_000_000_000_000);
const UsageQuery = z.object({ from: Ms.optional(), to: Ms.optional() });
const BillQuery = z.object({
  month: z
    .string()
    .regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'month must be YYYY-MM, for example 2025-03')
    .optional(),
});

/** A plan's limits as the system ledger keeps them (per second). */
type Limits = { requestsPerSec: number; txPerSec: number; bytesInPerSec: number; bytesOutPerSec: number };

/** The app's current plan name: the network's record when it answers, else the portal's copy. */
async function currentPlan(ctx: PortalContext, appId: string, fallback: string): Promise<string> {
  const record = await ctx.network.app(appId).catch(() => undefined);
  return record?.plan ?? fallback;
}

function monthOf(at: number): string {
  const d = new Date(at);
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** The usage and bill routes. */
export const usageRoutes: RouteModule = (app, ctx) => {
  app.get('/api/apps/:id/usage', async (req) => {
    const user = await requireUser(ctx, req);
    const found = await appFor(ctx, user, (req.params as { id: string }).id);
    const q = UsageQuery.parse(req.query);
    const to = q.to ?? bucketStart(ctx.now()) + USAGE_BUCKET_MS;
    const from = q.from ?? to - USAGE_DEFAULT_HOURS * USAGE_BUCKET_MS;
    if (to < from)
      throw Object.assign(new Error('to must not be before from'), {
        statusCode: 400,
        code: 'INVALID_INPUT',
        hint: 'Pick a later end',
      });
    if ((to - from) / USAGE_BUCKET_MS > USAGE_SERIES_BUCKETS_MAX) {
      throw Object.assign(new Error(`a series covers at most ${USAGE_SERIES_BUCKETS_MAX} hours`), {
        statusCode: 400,
        code: 'INVALID_INPUT',
        hint: 'Pick a shorter range',
      });
    }
    const plan = await currentPlan(ctx, found.appId, found.plan);
    let limits: Limits | undefined;
    let limitsNote: string | undefined;
    try {
      const plans = await ctx.network.gov<{ name: string; limits: Limits }[]>('gov_listPlans');
      limits = plans.find((p) => p.name === plan)?.limits;
      if (!limits) limitsNote = `the network has no plan "${plan}" any more`;
    } catch (err) {
      limitsNote = `the plan's limits could not be read: ${(err as Error).message}`;
    }
    const series = await usageSeries(ctx.db, found.appId, from, to);
    const totals = series.reduce(
      (t, b) => ({
        requests: t.requests + b.requests,
        transactions: t.transactions + b.transactions,
        gas: t.gas + b.gas,
        storageByteHours: t.storageByteHours + b.storageBytes,
      }),
      { requests: 0, transactions: 0, gas: 0, storageByteHours: 0 },
    );
    return {
      appId: found.appId,
      from,
      to,
      bucketMs: USAGE_BUCKET_MS,
      series,
      totals,
      plan: {
        name: plan,
        ...(limits
          ? {
              limits,
              perBucket: {
                requests: limits.requestsPerSec * (USAGE_BUCKET_MS / 1000),
                transactions: limits.txPerSec * (USAGE_BUCKET_MS / 1000),
              },
            }
          : {}),
        ...(limitsNote ? { note: limitsNote } : {}),
      },
      storageNote:
        "the ledger's size on the largest of its nodes (blocks, state and indexes), sampled once an hour; the bill counts it per hour kept",
    };
  });

  app.get('/api/apps/:id/bill', async (req) => {
    const user = await requireUser(ctx, req);
    const found = await appFor(ctx, user, (req.params as { id: string }).id);
    const q = BillQuery.parse(req.query);
    const now = ctx.now();
    const month = q.month ?? monthOf(now);
    const plan = await currentPlan(ctx, found.appId, found.plan);
    const prices = Object.hasOwn(PRICES, plan) ? PRICES[plan] : undefined;
    if (!prices) {
      throw Object.assign(
        new Error(`the plan "${plan}" has no price in the portal's price list (${Object.keys(PRICES).join(', ')})`),
        {
          statusCode: 409,
          code: 'PLAN_NOT_PRICED',
          hint: 'Ask the operator of the portal to price this plan; usage is still recorded',
        },
      );
    }
    const bill = await monthlyBill(ctx.db, { appId: found.appId, month, plan, now: ctx.now });
    return { bill, prices, provisional: month >= monthOf(now) };
  });
};
