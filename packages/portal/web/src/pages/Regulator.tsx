/**
 * The regulator view: the regulator's address and grant, the apps the alliance granted them, and
 * for each app its nodes, search, the audit log and exports. Every read goes through the
 * regulator's own key, so the app's owner sees it in the audit log; nothing here writes.
 */
import { type FormEvent, useId, useState } from 'react';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { ApiError, api } from '../api.js';
import { formatBytes, formatCount } from '../components/charts.js';
import { Button, Copyable, ErrorBox, Field, Loading, Tabs, useAsync, useDraft } from '../components/ui.js';
import { Link, match, navigate, useRoute } from '../router.js';

type Grant = { address: string; apps: string[] | 'all' } | null;
type NodeRow = { name: string; region: string; ok: boolean; serving: boolean; height?: number };
type GrantedApp = {
  appId: string;
  name: string;
  status: string;
  plan: string;
  chainId: number;
  createdAt: number;
  nodes: NodeRow[];
};
type AppsAnswer = { address: string | null; grant: Grant; apps: GrantedApp[]; unmanaged: string[] };
type AppDetail = {
  app: GrantedApp;
  height: number;
  latest: { number: number; hash: string; time: number; transactions: number };
  keyId: string;
};

const TABS = [
  { id: 'overview', title: 'Overview' },
  { id: 'search', title: 'Search' },
  { id: 'audit', title: 'Audit log' },
  { id: 'export', title: 'Export' },
];

/** A definition list laid out as two columns. */
const FACTS = { display: 'grid', gridTemplateColumns: 'max-content 1fr', gap: '0.25rem 1rem', wordBreak: 'break-all' } as const;

const time = (ms: number) => new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const short = (hex: string) => (hex.length > 18 ? `${hex.slice(0, 10)}…${hex.slice(-6)}` : hex);

/** The regulator's pages: `/regulator` and `/regulator/:id/:tab`. */
export function RegulatorPage() {
  const { path } = useRoute();
  const m = match('/regulator/:id/:tab?', path);
  if (m?.id) return <GrantedAppPage appId={m.id} tab={m.tab ?? 'overview'} />;
  return <Overview />;
}

function Overview() {
  const apps = useAsync(() => api<AppsAnswer>('GET', '/api/regulator/apps'), []);
  return (
    <section>
      <h1>Oversight</h1>
      <p>
        You read the ledgers the alliance grants you. Every read goes through a key of your own, so each app’s owner sees it in
        the app’s audit log. Nothing you do here changes a ledger.
      </p>
      {apps.loading && !apps.data && <Loading what="your grant" />}
      <ErrorBox error={apps.error} />
      {apps.data && <Identity answer={apps.data} onLinked={apps.reload} />}
      {apps.data?.grant && (
        <>
          <h2>Granted ledgers</h2>
          {apps.data.apps.length === 0 && <p>None of the apps of your grant is managed by this portal yet.</p>}
          <ul className="cards" aria-label="Granted ledgers">
            {apps.data.apps.map((a) => (
              <li key={a.appId} className="card">
                <h3 style={{ margin: '0 0 0.25rem' }}>
                  <Link to={`/regulator/${a.appId}`}>{a.name}</Link>
                </h3>
                <p style={{ margin: 0 }}>
                  <span className={`status ${a.status}`}>{a.status}</span> · {a.plan} plan · chain id {a.chainId}
                </p>
                <p className="hint">
                  {a.nodes.length} node{a.nodes.length === 1 ? '' : 's'}:{' '}
                  {a.nodes.map((n) => `${n.name}${n.serving ? '' : ' (not serving)'}`).join(', ')}
                </p>
              </li>
            ))}
          </ul>
          {apps.data.unmanaged.length > 0 && (
            <p className="hint">
              Also granted, but not managed by this portal: {apps.data.unmanaged.join(', ')}. Read those at a node with a key from
              their owner.
            </p>
          )}
        </>
      )}
    </section>
  );
}

/** The regulator's address and grant; linking an address when there is none yet. */
function Identity({ answer, onLinked }: { answer: AppsAnswer; onLinked: () => void }) {
  const [changing, setChanging] = useState(false);
  // A key made in the page stays on screen after linking, until the regulator says it is saved.
  const [made, setMade] = useState<string>();
  if (answer.address && !changing) {
    return (
      <div className="card">
        <h2 style={{ marginTop: 0 }}>Your address</h2>
        {made && (
          <div className="notice" role="status">
            <p>
              The key of this address was made in this page and is not kept anywhere: save it now (a password manager will do).
            </p>
            <Copyable text={made} label="the private key of your address" />
            <Button kind="secondary" onClick={() => setMade(undefined)}>
              I saved it
            </Button>
          </div>
        )}
        <Copyable text={answer.address} label="your address" testId="regulator-address" />
        <p>
          {answer.grant === null
            ? 'The alliance has not granted this address any app yet: give it to the alliance admins and ask for a grant.'
            : answer.grant.apps === 'all'
              ? 'The alliance grants this address every app of the network.'
              : `The alliance grants this address ${answer.grant.apps.length} app${answer.grant.apps.length === 1 ? '' : 's'}: ${answer.grant.apps.join(', ')}.`}
        </p>
        <Button kind="secondary" onClick={() => setChanging(true)}>
          Link another address
        </Button>
      </div>
    );
  }
  return (
    <LinkAddress
      onLinked={(madeKey) => {
        setChanging(false);
        setMade(madeKey);
        onLinked();
      }}
    />
  );
}

type Ethereum = { request(args: { method: string; params?: unknown[] }): Promise<unknown> };

/**
 * Links an address by signing the portal's message with its key, in this page: with a pasted
 * private key (it never leaves the page), a new key made here, or a browser wallet.
 */
function LinkAddress({ onLinked }: { onLinked: (madeKey?: string) => void }) {
  const [hex, setHex] = useState('');
  const [fresh, setFresh] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const wallet = (window as unknown as { ethereum?: Ethereum }).ethereum;

  const link = async (address: string, sign: (message: string) => Promise<string>, madeKey?: string) => {
    const challenge = await api<{ message: string; time: number }>('GET', `/api/regulator/address/challenge?address=${address}`);
    const signature = await sign(challenge.message);
    await api('POST', '/api/regulator/address', { address, time: challenge.time, signature });
    setHex('');
    setFresh(undefined);
    onLinked(madeKey);
  };

  const run = async (go: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await go();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      const text = hex.trim();
      const key = (text.startsWith('0x') ? text : `0x${text}`) as `0x${string}`;
      if (!/^0x[0-9a-fA-F]{64}$/.test(key))
        throw new ApiError(0, 'INVALID_INPUT', 'a private key is 64 hex digits', 'Paste the key again, with or without 0x');
      const account = privateKeyToAccount(key);
      await link(
        account.address.toLowerCase(),
        (message) => account.signMessage({ message }),
        fresh?.toLowerCase() === key.toLowerCase() ? fresh : undefined,
      );
    });
  };

  return (
    <div className="card">
      <h2 style={{ marginTop: 0 }}>Link your address</h2>
      <p>
        The alliance grants apps to an address. Prove that you hold its key by signing a message; the key stays in this page and
        is never sent to the portal.
      </p>
      {fresh && (
        <div className="notice" role="status">
          <p>A new key was made in this page. Keep it safe: it is shown only now, and it is the key of the address you link.</p>
          <Copyable text={fresh} label="the new private key" />
        </div>
      )}
      <form onSubmit={submit} noValidate>
        <Field
          label="Private key of your address"
          type="password"
          name="regulator-private-key"
          autoComplete="off"
          value={hex}
          onChange={setHex}
          mono
          hint="64 hex digits, with or without 0x"
        />
        <ErrorBox error={error} />
        <div className="row">
          <Button type="submit" busy={busy}>
            Sign and link
          </Button>
          <Button
            kind="secondary"
            disabled={busy}
            onClick={() => {
              const key = generatePrivateKey();
              setFresh(key);
              setHex(key);
            }}
          >
            Make a new key
          </Button>
          {wallet && (
            <Button
              kind="secondary"
              disabled={busy}
              onClick={() =>
                void run(async () => {
                  const [address] = (await wallet.request({ method: 'eth_requestAccounts' })) as string[];
                  if (!address)
                    throw new ApiError(0, 'NO_ACCOUNT', 'the wallet gave no account', 'Unlock the wallet and try again');
                  await link(
                    address.toLowerCase(),
                    async (message) => (await wallet.request({ method: 'personal_sign', params: [message, address] })) as string,
                  );
                })
              }
            >
              Sign with a browser wallet
            </Button>
          )}
        </div>
      </form>
    </div>
  );
}

function GrantedAppPage({ appId, tab }: { appId: string; tab: string }) {
  const detail = useAsync(() => api<AppDetail>('GET', `/api/regulator/apps/${appId}`), [appId]);
  const current = TABS.some((t) => t.id === tab) ? tab : 'overview';
  return (
    <section>
      <p>
        <Link to="/regulator">← Granted ledgers</Link>
      </p>
      <h1>{detail.data?.app.name ?? appId}</h1>
      {detail.data && (
        <p>
          <span className={`status ${detail.data.app.status}`}>{detail.data.app.status}</span> · {detail.data.app.plan} plan ·
          chain id {detail.data.app.chainId} · block {formatCount(detail.data.height)} · your key <code>{detail.data.keyId}</code>
        </p>
      )}
      {detail.loading && !detail.data && <Loading what="the ledger" />}
      <ErrorBox error={detail.error} />
      <Tabs label="Ledger sections" tabs={TABS} active={current} onSelect={(id) => navigate(`/regulator/${appId}/${id}`)} />
      <div role="tabpanel" id={`panel-${current}`} aria-labelledby={`tab-${current}`} className="panel">
        {current === 'overview' && detail.data && <AppOverview detail={detail.data} />}
        {current === 'search' && <SearchTab appId={appId} />}
        {current === 'audit' && <AuditTab appId={appId} />}
        {current === 'export' && <ExportTab appId={appId} createdAt={detail.data?.app.createdAt} />}
      </div>
    </section>
  );
}

function AppOverview({ detail }: { detail: AppDetail }) {
  return (
    <>
      <h2>Nodes</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Node</th>
            <th scope="col">Region</th>
            <th scope="col">Health</th>
            <th scope="col">Serving the ledger</th>
            <th scope="col">Height</th>
          </tr>
        </thead>
        <tbody>
          {detail.app.nodes.map((n) => (
            <tr key={n.name}>
              <td>{n.name}</td>
              <td>{n.region || '—'}</td>
              <td className={`health ${n.ok ? 'ok' : 'down'}`}>{n.ok ? 'up' : 'down'}</td>
              <td>{n.serving ? 'yes' : 'no'}</td>
              <td>{n.height !== undefined ? formatCount(n.height) : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Latest block</h2>
      <p>
        Block {formatCount(detail.latest.number)} at {time(detail.latest.time)}, {detail.latest.transactions} transaction
        {detail.latest.transactions === 1 ? '' : 's'}. Hash <code>{short(detail.latest.hash)}</code>
      </p>
    </>
  );
}

// --- Search --------------------------------------------------------------------------------------

type Tx = {
  hash: string;
  blockNumber: number | null;
  from: string;
  to: string | null;
  value: string;
  gas: string;
  nonce: number;
  input: string;
};
type Receipt = { status: number; gasUsed: string; logs: unknown[]; contractAddress: string | null };
type Block = {
  number: number;
  hash: string;
  timestampMs: number;
  transactionCount: number;
  transactions: string[];
  gasUsed: string;
};
type Account = { address: string; balance: string; nonce: number; isContract: boolean; codeSize: number; blockNumber: number };
type Found =
  | { kind: 'transaction'; status: string; transaction: Tx; receipt: Receipt | null }
  | { kind: 'block'; block: Block }
  | { kind: 'account'; account: Account };

function SearchTab({ appId }: { appId: string }) {
  const [q, setQ] = useDraft(`regulator-search:${appId}`, '');
  const [found, setFound] = useState<Found>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const search = async (text: string) => {
    setBusy(true);
    setError(undefined);
    setFound(undefined);
    try {
      setFound(await api<Found>('GET', `/api/regulator/apps/${appId}/search?q=${encodeURIComponent(text.trim())}`));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const follow = (text: string) => {
    setQ(text);
    void search(text);
  };
  return (
    <>
      <h2>Search</h2>
      <search>
        <form
          className="row"
          onSubmit={(e) => {
            e.preventDefault();
            void search(q);
          }}
        >
          <Field label="Transaction hash, block number or hash, or address" value={q} onChange={setQ} mono name="q" />
          <div style={{ marginBottom: '0.9rem' }}>
            <Button type="submit" busy={busy}>
              Search
            </Button>
          </div>
        </form>
      </search>
      <ErrorBox error={error} />
      <div aria-live="polite">
        {found?.kind === 'transaction' && (
          <dl style={FACTS} data-testid="found-transaction">
            <dt>Transaction</dt>
            <dd className="mono">{found.transaction.hash}</dd>
            <dt>Status</dt>
            <dd>
              {found.status === 'pending'
                ? 'pending: not in a block yet'
                : found.receipt?.status === 1
                  ? 'succeeded'
                  : found.receipt
                    ? 'reverted'
                    : 'committed'}
            </dd>
            {found.transaction.blockNumber !== null && (
              <>
                <dt>Block</dt>
                <dd>
                  <button
                    type="button"
                    className="btn secondary small"
                    onClick={() => follow(String(found.transaction.blockNumber))}
                  >
                    {found.transaction.blockNumber}
                  </button>
                </dd>
              </>
            )}
            <dt>From</dt>
            <dd>
              <button type="button" className="btn secondary small mono" onClick={() => follow(found.transaction.from)}>
                {found.transaction.from}
              </button>
            </dd>
            <dt>To</dt>
            <dd>
              {found.transaction.to ? (
                <button type="button" className="btn secondary small mono" onClick={() => follow(found.transaction.to as string)}>
                  {found.transaction.to}
                </button>
              ) : found.receipt?.contractAddress ? (
                `a new contract, ${found.receipt.contractAddress}`
              ) : (
                '—'
              )}
            </dd>
            <dt>Value (wei)</dt>
            <dd>{found.transaction.value}</dd>
            {found.receipt && (
              <>
                <dt>Gas used</dt>
                <dd>{found.receipt.gasUsed}</dd>
                <dt>Logs</dt>
                <dd>{found.receipt.logs.length}</dd>
              </>
            )}
          </dl>
        )}
        {found?.kind === 'block' && (
          <>
            <dl style={FACTS} data-testid="found-block">
              <dt>Block</dt>
              <dd>{formatCount(found.block.number)}</dd>
              <dt>Hash</dt>
              <dd className="mono">{found.block.hash}</dd>
              <dt>Time</dt>
              <dd>{time(found.block.timestampMs)}</dd>
              <dt>Gas used</dt>
              <dd>{found.block.gasUsed}</dd>
              <dt>Transactions</dt>
              <dd>{found.block.transactionCount}</dd>
            </dl>
            {found.block.transactions.length > 0 && (
              <ul className="plain">
                {found.block.transactions.map((h) => (
                  <li key={h}>
                    <button type="button" className="btn secondary small mono" onClick={() => follow(h)}>
                      {h}
                    </button>
                  </li>
                ))}
              </ul>
            )}
          </>
        )}
        {found?.kind === 'account' && (
          <dl style={FACTS} data-testid="found-account">
            <dt>Account</dt>
            <dd className="mono">{found.account.address}</dd>
            <dt>Balance (wei)</dt>
            <dd>{found.account.balance}</dd>
            <dt>Transactions sent (nonce)</dt>
            <dd>{found.account.nonce}</dd>
            <dt>Kind</dt>
            <dd>{found.account.isContract ? `contract (${formatBytes(found.account.codeSize)} of code)` : 'externally owned'}</dd>
            <dt>As of block</dt>
            <dd>{formatCount(found.account.blockNumber)}</dd>
          </dl>
        )}
      </div>
    </>
  );
}

// --- Audit log -----------------------------------------------------------------------------------

type AuditEntry = {
  seq: number;
  at: number;
  actor: string;
  scope: string;
  action: string;
  detail: string;
  hash: string;
  hashOk: boolean;
};
type AuditPage = {
  node: string;
  nodes: string[];
  keyId: string;
  entries: AuditEntry[];
  next: number | null;
  head: { seq: number; hash: string };
  anchor: { seq: number; hash: string } | null;
};

const PAGE = 100;

/** What came of an entry: a regulator's request or refusal, an admin action's status, a governance transaction's block. */
function outcomeOf(detail: string): string {
  try {
    const d = JSON.parse(detail) as { outcome?: string; status?: number; height?: number };
    if (d.outcome) return d.outcome;
    if (d.status !== undefined) return `HTTP ${d.status}`;
    return d.height !== undefined ? `in block ${d.height}` : '';
  } catch {
    return '';
  }
}

function AuditTab({ appId }: { appId: string }) {
  const [node, setNode] = useState<string>();
  const [after, setAfter] = useState<number[]>([0]);
  const from = after[after.length - 1] ?? 0;
  const page = useAsync(
    () =>
      api<AuditPage>(
        'GET',
        `/api/regulator/apps/${appId}/audit?after=${from}&limit=${PAGE}${node ? `&node=${encodeURIComponent(node)}` : ''}`,
      ),
    [appId, node, from],
  );
  const selectId = useId();
  const data = page.data;
  return (
    <>
      <h2>Audit log</h2>
      <p className="hint">
        What the node recorded about this app: your reads (and any other regulator’s), its owner’s admin actions and the
        alliance’s decisions. You read it as the owner does; it cannot be changed from here. Each entry’s hash is checked against
        its content.
      </p>
      {data && data.nodes.length > 1 && (
        <div className="field" style={{ maxWidth: '20rem' }}>
          <label htmlFor={selectId}>Node</label>
          <select
            id={selectId}
            value={node ?? data.node}
            onChange={(e) => {
              setNode(e.target.value);
              setAfter([0]);
            }}
          >
            {data.nodes.map((n) => (
              <option key={n}>{n}</option>
            ))}
          </select>
        </div>
      )}
      {page.loading && !data && <Loading what="the audit log" />}
      <ErrorBox error={page.error} />
      {data && (
        <>
          <p>
            {data.node}’s log holds {formatCount(data.head.seq)} entries (all apps).{' '}
            {data.anchor
              ? `Its entry ${formatCount(data.anchor.seq)} is anchored on the system ledger, so the log up to there cannot be rewritten unnoticed.`
              : 'No anchor on the system ledger yet.'}
          </p>
          {data.entries.length === 0 ? (
            <p>No entries concern this app{from > 0 ? ' after this point' : ''}.</p>
          ) : (
            <table aria-label={`Audit log of ${appId} at ${data.node}`}>
              <thead>
                <tr>
                  <th scope="col">#</th>
                  <th scope="col">Time</th>
                  <th scope="col">Who</th>
                  <th scope="col">As</th>
                  <th scope="col">What</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">Hash</th>
                </tr>
              </thead>
              <tbody>
                {data.entries.map((e) => (
                  <tr key={e.seq}>
                    <td>{e.seq}</td>
                    <td>{time(e.at)}</td>
                    <td className="mono">
                      {short(e.actor)}
                      {e.actor === data.keyId ? ' (you)' : ''}
                    </td>
                    <td>{e.scope}</td>
                    <td className="mono">{e.action}</td>
                    <td>{outcomeOf(e.detail)}</td>
                    <td className="mono" title={e.hash}>
                      {short(e.hash)}{' '}
                      {e.hashOk ? (
                        <span className="health ok">✓ checked</span>
                      ) : (
                        <strong className="health down">does not match</strong>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <div className="row">
            <Button kind="secondary" disabled={after.length <= 1} onClick={() => setAfter(after.slice(0, -1))}>
              Previous page
            </Button>
            <Button
              kind="secondary"
              disabled={data.next === null}
              onClick={() => data.next !== null && setAfter([...after, data.next])}
            >
              Next page
            </Button>
          </div>
        </>
      )}
    </>
  );
}

// --- Export --------------------------------------------------------------------------------------

const KINDS = [
  { id: 'transactions', title: 'Transactions', hint: 'one row per transaction: block, time, hash, from, to, status, gas' },
  { id: 'events', title: 'Events', hint: 'one row per log: block, time, transaction, address, topics, data' },
  { id: 'records', title: 'Records', hint: 'the records service: hash, submitter, tag, metadata' },
  { id: 'governance', title: 'Governance', hint: 'the alliance’s and the owner’s decisions about this app' },
] as const;

/** A `datetime-local` value (the reader's time zone, to the minute) for `ms`. */
function toLocalInput(ms: number): string {
  const d = new Date(ms);
  return new Date(ms - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

function zoneName(): string {
  const minutes = -new Date().getTimezoneOffset();
  const sign = minutes >= 0 ? '+' : '-';
  const abs = Math.abs(minutes);
  return `UTC${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** Counts records of RFC 4180 text (line breaks inside quotes do not end a record). */
function csvCounter() {
  let quoted = false;
  let records = 0;
  return (text: string) => {
    for (const c of text) {
      if (c === '"') quoted = !quoted;
      else if (c === '\n' && !quoted) records++;
    }
    return records;
  };
}

/** A radio button named by `title`, with `hint` beside it as its description. */
function Choice(props: { name: string; title: string; hint: string; checked: boolean; onChoose: () => void }) {
  const hintId = useId();
  return (
    <div>
      <label style={{ display: 'inline' }}>
        <input type="radio" name={props.name} checked={props.checked} aria-describedby={hintId} onChange={props.onChoose} />{' '}
        {props.title}
      </label>{' '}
      <span className="hint" id={hintId}>
        — {props.hint}
      </span>
    </div>
  );
}

type ExportDraft = { kind: string; from: string; to: string; format: 'csv' | 'ndjson' };

function ExportTab({ appId, createdAt }: { appId: string; createdAt?: number | undefined }) {
  const now = Date.now();
  const [draft, setDraft] = useDraft<ExportDraft>(`regulator-export:${appId}`, {
    kind: 'transactions',
    from: toLocalInput(now - 24 * 3_600_000),
    to: toLocalInput(now + 60_000),
    format: 'csv',
  });
  const [progress, setProgress] = useState<{ bytes: number; rows: number }>();
  const [done, setDone] = useState<{ file: string; rows: number; bytes: number; next?: string }>();
  const [error, setError] = useState<unknown>();
  const fromId = useId();
  const toId = useId();
  const preset = (fromMs: number) => setDraft({ ...draft, from: toLocalInput(fromMs), to: toLocalInput(Date.now() + 60_000) });

  const download = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setDone(undefined);
    const from = new Date(draft.from).getTime();
    const to = new Date(draft.to).getTime();
    if (!Number.isFinite(from) || !Number.isFinite(to) || from >= to) {
      setError(new ApiError(0, 'INVALID_INPUT', 'the time range is empty', 'Choose a “from” time before the “to” time'));
      return;
    }
    setProgress({ bytes: 0, rows: 0 });
    try {
      // A cheap call first: an expired session sends the user to sign in (the form is kept).
      await api('GET', '/api/regulator/me');
      const query = new URLSearchParams({ kind: draft.kind, from: String(from), to: String(to), format: draft.format });
      let res: Response;
      try {
        res = await fetch(`/api/regulator/apps/${appId}/export?${query}`, { credentials: 'same-origin' });
      } catch {
        throw new ApiError(0, 'UNREACHABLE', 'the portal does not answer', 'Check your connection, then try again');
      }
      if (!res.ok || !res.body) {
        const body = (await res.json().catch(() => undefined)) as
          | { error?: { code: string; message: string; hint?: string } }
          | undefined;
        throw new ApiError(
          res.status,
          body?.error?.code ?? `HTTP_${res.status}`,
          body?.error?.message ?? `the portal answered ${res.status}`,
          body?.error?.hint,
        );
      }
      const file =
        /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? `${appId}-${draft.kind}.${draft.format}`;
      const chunks: Uint8Array[] = [];
      const decoder = new TextDecoder();
      const count = csvCounter();
      let bytes = 0;
      let lines = 0;
      let tail = '';
      const reader = res.body.getReader();
      try {
        for (;;) {
          const { done: end, value } = await reader.read();
          if (end) break;
          chunks.push(value);
          bytes += value.length;
          const text = decoder.decode(value, { stream: true });
          if (draft.format === 'csv') lines = count(text);
          else {
            lines += text.split('\n').length - 1;
            tail = (tail + text).slice(-600);
          }
          setProgress({ bytes, rows: Math.max(0, lines - 1) });
        }
      } catch {
        throw new ApiError(
          0,
          'EXPORT_CUT',
          `the export stopped after ${formatBytes(bytes)}`,
          'The range may hold more rows than one file takes (100,000): choose a shorter range, or try again',
        );
      }
      // NDJSON ends with {"next": cursor or null}; a cursor means the file stopped at the portal's bound.
      const last =
        draft.format === 'ndjson' ? (JSON.parse(tail.trimEnd().split('\n').at(-1) ?? '{}') as { next?: string | null }) : {};
      const blob = new Blob(chunks as BlobPart[], { type: draft.format === 'csv' ? 'text/csv' : 'application/x-ndjson' });
      const href = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = href;
      a.download = file;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(href), 60_000);
      setDone({ file, rows: Math.max(0, lines - 1), bytes, ...(last.next ? { next: last.next } : {}) });
    } catch (err) {
      setError(err);
    } finally {
      setProgress(undefined);
    }
  };

  return (
    <>
      <h2>Export</h2>
      <p className="hint">
        The rows whose block time is in the range, as a file. Times are in your time zone ({zoneName()}); the “to” minute is not
        included. One file holds at most 100,000 rows.
      </p>
      <form onSubmit={download} noValidate>
        <fieldset>
          <legend>What</legend>
          {KINDS.map((k) => (
            <Choice
              key={k.id}
              name="kind"
              title={k.title}
              hint={k.hint}
              checked={draft.kind === k.id}
              onChoose={() => setDraft({ ...draft, kind: k.id })}
            />
          ))}
        </fieldset>
        <fieldset>
          <legend>When</legend>
          <div className="row">
            <div className="field">
              <label htmlFor={fromId}>From</label>
              <input
                id={fromId}
                name="from"
                type="datetime-local"
                value={draft.from}
                onChange={(e) => setDraft({ ...draft, from: e.target.value })}
                required
              />
            </div>
            <div className="field">
              <label htmlFor={toId}>To (not included)</label>
              <input
                id={toId}
                name="to"
                type="datetime-local"
                value={draft.to}
                onChange={(e) => setDraft({ ...draft, to: e.target.value })}
                required
              />
            </div>
          </div>
          <div className="row">
            <span className="hint">Quick ranges:</span>
            <Button kind="secondary" onClick={() => preset(Date.now() - 3_600_000)}>
              Last hour
            </Button>
            <Button kind="secondary" onClick={() => preset(Date.now() - 24 * 3_600_000)}>
              Last 24 hours
            </Button>
            <Button kind="secondary" onClick={() => preset(Date.now() - 7 * 24 * 3_600_000)}>
              Last 7 days
            </Button>
            {createdAt !== undefined && (
              <Button kind="secondary" onClick={() => preset(createdAt - 60_000)}>
                Since the app started
              </Button>
            )}
          </div>
        </fieldset>
        <fieldset>
          <legend>Format</legend>
          <Choice
            name="format"
            title="CSV"
            hint="for spreadsheets"
            checked={draft.format === 'csv'}
            onChoose={() => setDraft({ ...draft, format: 'csv' })}
          />
          <Choice
            name="format"
            title="NDJSON"
            hint="one JSON object per line, for programs"
            checked={draft.format === 'ndjson'}
            onChoose={() => setDraft({ ...draft, format: 'ndjson' })}
          />
        </fieldset>
        <ErrorBox error={error} />
        <Button type="submit" busy={progress !== undefined}>
          {progress ? 'Exporting…' : 'Download'}
        </Button>
      </form>
      <div aria-live="polite">
        {progress && (
          <p role="status">
            Received {formatCount(progress.rows)} rows ({formatBytes(progress.bytes)}) so far…
          </p>
        )}
        {done && (
          <p role="status" data-testid="export-done">
            Saved <strong>{done.file}</strong>: {formatCount(done.rows)} row{done.rows === 1 ? '' : 's'},{' '}
            {formatBytes(done.bytes)}.
            {done.next ? ' The file stops at the portal’s bound: the last line holds the cursor to export the rest.' : ''}
          </p>
        )}
      </div>
    </>
  );
}
