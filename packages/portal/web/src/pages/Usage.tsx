/**
 * Usage and bill: the app's requests, transactions, gas and storage hour by hour against its
 * plan's limits (charts, with their numbers a click away), and a month's bill with its lines and
 * total on the fixed, resource-based price.
 */
import { useState } from 'react';
import { api } from '../api.js';
import { BarChart, formatBytes, formatCents, formatCount, PartsBar, type Point } from '../components/charts.js';
import { ErrorBox, Loading, useAsync } from '../components/ui.js';

type Bucket = { bucketStart: number; requests: number; transactions: number; gas: number; storageBytes: number };
type UsageAnswer = {
  from: number;
  to: number;
  bucketMs: number;
  series: Bucket[];
  totals: { requests: number; transactions: number; gas: number; storageByteHours: number };
  plan: {
    name: string;
    limits?: { requestsPerSec: number; txPerSec: number };
    perBucket?: { requests: number; transactions: number };
    note?: string;
  };
  storageNote: string;
};
type BillLine = { item: string; quantity: number; unit: string; unitPriceCents: number; unitSize: number; amountCents: number };
type BillAnswer = { bill: { month: string; plan: string; lines: BillLine[]; totalCents: number }; provisional: boolean };

const HOUR = 3_600_000;
const RANGES = [
  { id: '24h', title: 'Last 24 hours', hours: 24 },
  { id: '7d', title: 'Last 7 days', hours: 24 * 7 },
  { id: '30d', title: 'Last 30 days', hours: 24 * 30 },
];

const ITEM_NAMES: Record<string, string> = {
  base: 'Monthly fee',
  requests: 'Requests',
  transactions: 'Transactions',
  gas: 'Gas',
  storage: 'Storage',
};

/** A bill unit for `n` of it: gas has no plural, the others take an s. */
function plural(unit: string, n: number): string {
  return n === 1 || unit === 'gas' ? unit : `${unit}s`;
}

function thisMonth(): string {
  const d = new Date();
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** Every hour of the range, with zero for the hours nothing was recorded in. */
function filled(answer: UsageAnswer, pick: (b: Bucket) => number): Point[] {
  const byStart = new Map(answer.series.map((b) => [b.bucketStart, b]));
  const points: Point[] = [];
  for (let at = answer.from - (answer.from % answer.bucketMs); at < answer.to; at += answer.bucketMs) {
    const b = byStart.get(at);
    points.push({ at, value: b ? pick(b) : 0 });
  }
  return points;
}

/** The usage and bill tab. */
export function UsageTab({ appId }: { appId: string }) {
  const [range, setRange] = useState('24h');
  const [month, setMonth] = useState(thisMonth);
  const hours = RANGES.find((r) => r.id === range)?.hours ?? 24;
  const usage = useAsync(() => {
    const to = Math.floor(Date.now() / HOUR) * HOUR + HOUR;
    return api<UsageAnswer>('GET', `/api/apps/${appId}/usage?from=${to - hours * HOUR}&to=${to}`);
  }, [appId, hours]);
  const bill = useAsync(() => api<BillAnswer>('GET', `/api/apps/${appId}/bill?month=${month}`), [appId, month]);
  const u = usage.data;
  const time = (ms: number) =>
    hours > 24
      ? new Date(ms).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' })
      : new Date(ms).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  return (
    <>
      <h2>Usage</h2>
      <fieldset className="row" style={{ gap: '0.25rem 1.25rem' }}>
        <legend>Period</legend>
        {RANGES.map((r) => (
          <label key={r.id}>
            <input type="radio" name="usage-range" value={r.id} checked={range === r.id} onChange={() => setRange(r.id)} />{' '}
            {r.title}
          </label>
        ))}
      </fieldset>
      {usage.loading && !u && <Loading what="the usage" />}
      <ErrorBox error={usage.error} />
      {u && (
        <>
          <p>
            Plan <strong>{u.plan.name}</strong>
            {u.plan.limits && (
              <>
                : at most {formatCount(u.plan.limits.requestsPerSec)} requests and {formatCount(u.plan.limits.txPerSec)}{' '}
                transactions a second.
              </>
            )}
            {u.plan.note && <span className="hint"> ({u.plan.note})</span>} The charts count one bar per hour.
          </p>
          <div
            className="charts"
            style={{ display: 'grid', gridTemplateColumns: 'repeat(auto-fit, minmax(min(100%, 26rem), 1fr))', gap: '0 1.5rem' }}
          >
            <BarChart
              title="Requests per hour"
              unit="requests"
              points={filled(u, (b) => b.requests)}
              formatTime={time}
              {...(u.plan.perBucket
                ? { limit: { value: u.plan.perBucket.requests, label: 'the plan’s requests per hour' } }
                : {})}
            />
            <BarChart
              title="Transactions per hour"
              unit="transactions"
              points={filled(u, (b) => b.transactions)}
              formatTime={time}
              {...(u.plan.perBucket
                ? { limit: { value: u.plan.perBucket.transactions, label: 'the plan’s transactions per hour' } }
                : {})}
            />
            <BarChart title="Gas used per hour" unit="gas" points={filled(u, (b) => b.gas)} formatTime={time} />
            <BarChart
              title="Storage kept per hour"
              unit=""
              column="bytes kept"
              points={filled(u, (b) => b.storageBytes)}
              format={formatBytes}
              formatTime={time}
            />
          </div>
          <p className="hint">
            Storage: {u.storageNote}. Requests include the explorer’s reads, which go through the gateway with the portal’s key
            like any other client’s.
          </p>
        </>
      )}

      <h2>Bill</h2>
      <div className="field" style={{ maxWidth: '14rem' }}>
        <label htmlFor="bill-month">Month</label>
        <input id="bill-month" type="month" value={month} onChange={(e) => e.target.value && setMonth(e.target.value)} />
      </div>
      {bill.loading && !bill.data && <Loading what="the bill" />}
      <ErrorBox error={bill.error} />
      {bill.data && <Bill answer={bill.data} />}
    </>
  );
}

function Bill({ answer }: { answer: BillAnswer }) {
  const { bill } = answer;
  return (
    <>
      {answer.provisional && (
        <p className="notice" role="note">
          This month is not over: the bill grows with the usage until the month ends.
        </p>
      )}
      <PartsBar
        title={`Bill for ${bill.month}`}
        parts={bill.lines.map((l) => ({ label: ITEM_NAMES[l.item] ?? l.item, value: l.amountCents }))}
        format={formatCents}
      />
      <table>
        <caption className="visually-hidden">
          Bill for {bill.month}, {bill.plan} plan
        </caption>
        <thead>
          <tr>
            <th scope="col">Item</th>
            <th scope="col">Quantity</th>
            <th scope="col">Price</th>
            <th scope="col">Amount</th>
          </tr>
        </thead>
        <tbody>
          {bill.lines.map((l) => (
            <tr key={l.item}>
              <th scope="row">{ITEM_NAMES[l.item] ?? l.item}</th>
              <td>
                {formatCount(l.quantity)} {plural(l.unit, l.quantity)}
              </td>
              <td>
                {formatCents(l.unitPriceCents)}
                {l.unitSize === 1
                  ? ` per ${l.unit}`
                  : l.item === 'storage'
                    ? ' per GiB-month'
                    : ` per ${formatCount(l.unitSize)} ${plural(l.unit, l.unitSize)}`}
              </td>
              <td>{formatCents(l.amountCents)}</td>
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <th scope="row" colSpan={3}>
              Total ({bill.plan} plan)
            </th>
            <td>
              <strong data-testid="bill-total">{formatCents(bill.totalCents)}</strong>
            </td>
          </tr>
        </tfoot>
      </table>
    </>
  );
}
