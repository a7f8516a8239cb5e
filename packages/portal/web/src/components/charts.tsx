/**
 * Charts in plain SVG, for what people would rather see than read: a bar chart over time with a
 * plan's limit, and a bar split into parts (a bill's lines). Each chart is an image with a label
 * that says what it shows in words (total, peak, share of the limit), and its numbers stay
 * available as a table under a disclosure, for screen readers and for anyone who wants them.
 */

/** Formats a count with the reader's digit grouping. */
export function formatCount(n: number): string {
  return n.toLocaleString();
}

/** Formats bytes in the largest unit that keeps the number at least 1 (B, KiB, MiB, GiB). */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** Formats integer cents as an amount in dollars. */
export function formatCents(cents: number): string {
  return (cents / 100).toLocaleString(undefined, { style: 'currency', currency: 'USD' });
}

const W = 640;
const H = 200;
const PAD = { left: 56, right: 12, top: 12, bottom: 28 };
const ACCENT = '#0b5cad';
const LIMIT = '#b42318';
const GRID = '#d0d7de';
const MUTED = '#57606a';

/** One bar: a bucket's start (ms) and its value. */
export type Point = { at: number; value: number };

/** A bar chart of `points` over time, against `limit` when the plan has one. */
export function BarChart(props: {
  title: string;
  points: Point[];
  /** What a value counts ("requests", "gas"), written after the number; empty when `format` writes the unit (bytes). */
  unit: string;
  /** The heading of the values' column in the table (default: the unit). */
  column?: string;
  limit?: { value: number; label: string };
  format?: (n: number) => string;
  formatTime?: (ms: number) => string;
}) {
  const format = props.format ?? formatCount;
  const formatTime =
    props.formatTime ?? ((ms: number) => new Date(ms).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' }));
  const values = props.points.map((p) => p.value);
  const total = values.reduce((a, b) => a + b, 0);
  const peak = values.length > 0 ? Math.max(...values) : 0;
  const peakAt = props.points.find((p) => p.value === peak)?.at;
  const limit = props.limit?.value;
  // The limit is drawn when it is in sight: a limit a hundred times the peak would flatten every bar.
  const showLimit = limit !== undefined && limit > 0 && limit <= Math.max(peak, 1) * 4;
  const top = Math.max(peak, showLimit ? (limit as number) : 0, 1) * 1.1;
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const n = Math.max(props.points.length, 1);
  const slot = innerW / n;
  const barW = Math.max(1, slot * 0.8);
  const y = (v: number) => PAD.top + innerH - (v / top) * innerH;
  const share = limit !== undefined && limit > 0 ? (peak / limit) * 100 : undefined;
  const shareText =
    share === undefined
      ? ''
      : peak === 0
        ? '0%'
        : share < 0.01
          ? 'under 0.01%'
          : `${share < 1 ? share.toFixed(2) : Math.round(share)}%`;
  const amount = (n: number) => (props.unit ? `${format(n)} ${props.unit}` : format(n));
  const summary =
    props.points.length === 0
      ? `${props.title}: nothing recorded in this period.`
      : `${props.title}: ${amount(total)} in ${props.points.length} hours; peak ${format(peak)}${
          peakAt !== undefined && peak > 0 ? ` at ${formatTime(peakAt)}` : ''
        }${share !== undefined ? `, ${shareText} of the limit of ${format(limit as number)} (${props.limit?.label})` : ''}.`;
  const ticks = [0, 0.5, 1].map((f) => Math.round(top * f));
  const labelEvery = Math.ceil(n / 6);
  return (
    <figure className="chart" style={{ margin: '0 0 1.5rem' }}>
      <figcaption style={{ fontWeight: 600 }}>{props.title}</figcaption>
      <svg
        role="img"
        aria-label={summary}
        viewBox={`0 0 ${W} ${H}`}
        width="100%"
        style={{ maxWidth: `${W}px`, height: 'auto', display: 'block' }}
      >
        <title>{summary}</title>
        {ticks.map((t) => (
          <g key={t}>
            <line x1={PAD.left} x2={W - PAD.right} y1={y(t)} y2={y(t)} stroke={GRID} strokeWidth={1} />
            <text x={PAD.left - 6} y={y(t) + 4} textAnchor="end" fontSize={11} fill={MUTED}>
              {format(t)}
            </text>
          </g>
        ))}
        {props.points.map((p, i) => (
          <rect
            key={p.at}
            x={PAD.left + i * slot + (slot - barW) / 2}
            y={y(p.value)}
            width={barW}
            height={Math.max(0, PAD.top + innerH - y(p.value))}
            fill={ACCENT}
          />
        ))}
        {props.points.map((p, i) =>
          i % labelEvery === 0 ? (
            <text key={`l${p.at}`} x={PAD.left + i * slot + slot / 2} y={H - 8} textAnchor="middle" fontSize={10} fill={MUTED}>
              {new Date(p.at).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })}
            </text>
          ) : null,
        )}
        {showLimit && (
          <g>
            <line
              x1={PAD.left}
              x2={W - PAD.right}
              y1={y(limit as number)}
              y2={y(limit as number)}
              stroke={LIMIT}
              strokeWidth={2}
              strokeDasharray="6 4"
            />
            <text x={W - PAD.right} y={y(limit as number) - 4} textAnchor="end" fontSize={11} fill={LIMIT}>
              limit {format(limit as number)}
            </text>
          </g>
        )}
      </svg>
      <p className="hint" style={{ marginTop: '0.25rem' }}>
        Total {amount(total)} · peak {format(peak)}
        {limit !== undefined && limit > 0 && ` · limit ${format(limit)} (${props.limit?.label})`}
        {limit !== undefined && limit > 0 && !showLimit && ` · the peak is ${shareText} of it`}
      </p>
      <details>
        <summary>The numbers of “{props.title}”</summary>
        <table>
          <caption className="visually-hidden">{props.title}, hour by hour</caption>
          <thead>
            <tr>
              <th scope="col">Hour starting</th>
              <th scope="col">{props.column ?? props.unit}</th>
            </tr>
          </thead>
          <tbody>
            {props.points.map((p) => (
              <tr key={p.at}>
                <td>{formatTime(p.at)}</td>
                <td>{format(p.value)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

const PART_COLOURS = ['#0b5cad', '#1a7f37', '#9a6700', '#8250df', '#b42318', '#57606a'];

/** One bar split into parts that add up to its whole (a bill's lines); parts of zero are left out of the bar. */
export function PartsBar(props: { title: string; parts: { label: string; value: number }[]; format?: (n: number) => string }) {
  const format = props.format ?? formatCount;
  const total = props.parts.reduce((a, p) => a + p.value, 0);
  const shown = props.parts
    .map((p, i) => ({ ...p, colour: PART_COLOURS[i % PART_COLOURS.length] as string }))
    .filter((p) => p.value > 0);
  const summary =
    total === 0
      ? `${props.title}: nothing.`
      : `${props.title}: ${format(total)} in all; ${shown.map((p) => `${p.label} ${format(p.value)} (${Math.round((p.value / total) * 100)}%)`).join(', ')}.`;
  let x = 0;
  return (
    <figure style={{ margin: '0.5rem 0 1rem' }}>
      <svg
        role="img"
        aria-label={summary}
        viewBox="0 0 640 28"
        width="100%"
        style={{ maxWidth: '640px', height: 'auto', display: 'block' }}
      >
        <title>{summary}</title>
        <rect x={0} y={0} width={640} height={28} fill="#f6f8fa" stroke={GRID} />
        {total > 0 &&
          shown.map((p) => {
            const w = (p.value / total) * 640;
            const rect = <rect key={p.label} x={x} y={0} width={w} height={28} fill={p.colour} />;
            x += w;
            return rect;
          })}
      </svg>
      <figcaption>
        <ul className="row" style={{ listStyle: 'none', padding: 0, margin: '0.25rem 0', gap: '0.25rem 1rem' }}>
          {shown.map((p) => (
            <li key={p.label}>
              <span
                aria-hidden="true"
                style={{ display: 'inline-block', width: '0.8em', height: '0.8em', background: p.colour, marginRight: '0.3em' }}
              />
              {p.label}: {format(p.value)}
            </li>
          ))}
        </ul>
      </figcaption>
    </figure>
  );
}
