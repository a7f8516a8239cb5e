/**
 * The explorer of an app's ledger: the latest blocks (updated live over a WebSocket), a block, a
 * transaction with its input and logs decoded when the ABI is known, an account, records,
 * certificates and identity. One search box takes a block height, a hash, an address or a DID.
 * What is shown lives in the address's query (`?tx=0x…`, `?block=12`, `?view=records` ...), so
 * every view can be linked to, bookmarked and reached with the browser's back button.
 */
import { type FormEvent, type ReactNode, useEffect, useRef, useState } from 'react';
import { api } from '../api.js';
import { Button, Copyable, ErrorBox, Field, Loading, useAsync } from '../components/ui.js';
import { Link, navigate, useRoute } from '../router.js';

type Arg = { name: string; type: string; value: unknown; indexed?: boolean };
type DecodedLog = {
  address: string;
  logIndex?: number;
  blockNumber?: number;
  transactionHash?: string;
  topics: string[];
  data: string;
  contract?: string;
  event?: string;
  signature?: string;
  matchedBy?: 'address' | 'signature';
  args?: Arg[];
};
type BlockSummary = {
  number: number;
  hash: string;
  timestampMs: number;
  transactionCount: number;
  gasUsed: string;
  size: number;
  miner: string;
  transactions: string[];
};
type BlockDetail = Omit<BlockSummary, 'transactions'> & {
  parentHash: string;
  stateRoot: string;
  gasLimit: string;
  transactions: {
    hash: string;
    index: number | null;
    from: string;
    to: string | null;
    toName?: string;
    value: string;
    method?: string;
  }[];
};
type TxDetail = {
  hash: string;
  status: 'pending' | 'committed';
  blockNumber: number | null;
  blockHash: string | null;
  index: number | null;
  from: string;
  to: string | null;
  toName?: string;
  value: string;
  gas: string;
  nonce: number;
  type: number;
  input: string;
  decodedInput?: { contract: string; function: string; signature: string; matchedBy: 'address' | 'selector'; args: Arg[] };
  created?: { address: string; name?: string };
  receipt?: { status: 'success' | 'reverted'; gasUsed: string; contractAddress: string | null };
  logs: DecodedLog[];
};
type Account = {
  address: string;
  balance: string;
  nonce: number;
  pendingNonce: number;
  codeSize: number;
  isContract: boolean;
  blockNumber: number;
  contract?: { name: string; kind: 'portal' | 'service' };
  events?: DecodedLog[];
  eventsNote?: string;
  transactionsNote: string;
};
type RecordEntry = { hash: string; submitter: string; tag: string; meta: string; blockNumber: number; transactionHash: string };
type Collection = {
  id: string;
  name?: string;
  symbol?: string;
  kind?: number | string;
  transferable?: boolean;
  issuer?: string;
  collectionAddress?: string;
  supply?: string;
};

/** Blocks the live list keeps at most; older ones are a page away. */
const LIVE_LIST_MAX = 50;
const ZERO_TAG = `0x${'0'.repeat(64)}`;

const VIEWS = [
  { id: 'blocks', title: 'Blocks' },
  { id: 'records', title: 'Records' },
  { id: 'certificates', title: 'Certificates' },
  { id: 'identity', title: 'Identity' },
];

/** The explorer tab. */
export function ExplorerTab({ appId }: { appId: string }) {
  const { query } = useRoute();
  const base = `/apps/${appId}/explorer`;
  const tx = query.get('tx');
  const block = query.get('block');
  const address = query.get('address');
  const record = query.get('record');
  const did = query.get('did');
  const view = query.get('view') ?? 'blocks';
  let content: ReactNode;
  if (tx) content = <TransactionView appId={appId} hash={tx} />;
  else if (block) content = <BlockView appId={appId} block={block} />;
  else if (address) content = <AccountView appId={appId} address={address} />;
  else if (record) content = <RecordView appId={appId} hash={record} />;
  else if (did) content = <IdentityView appId={appId} did={did} />;
  else if (view === 'records') content = <RecordsView appId={appId} />;
  else if (view === 'certificates') content = <CertificatesView appId={appId} />;
  else if (view === 'identity') content = <IdentityLookup appId={appId} />;
  else content = <BlocksView appId={appId} />;
  const current = tx || block || address || record || did ? undefined : view;
  return (
    <div className="explorer">
      <SearchBox appId={appId} />
      <nav aria-label="Explorer sections">
        <ul className="row" style={{ listStyle: 'none', padding: 0, margin: '0 0 0.5rem', gap: '0.25rem 1.25rem' }}>
          {VIEWS.map((v) => (
            <li key={v.id}>
              <Link to={v.id === 'blocks' ? base : `${base}?view=${v.id}`} aria-current={current === v.id ? 'page' : undefined}>
                {v.title}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      {content}
    </div>
  );
}

/** A link to one explorer view of the app. */
function To({
  appId,
  kind,
  id,
  children,
}: {
  appId: string;
  kind: 'tx' | 'block' | 'address' | 'record' | 'did';
  id: string | number;
  children?: ReactNode;
}) {
  return (
    <Link to={`/apps/${appId}/explorer?${kind}=${encodeURIComponent(String(id))}`}>{children ?? <Hex value={String(id)} />}</Link>
  );
}

/** A long hex value shortened for reading; the whole value is in its title and for screen readers. */
function Hex({ value }: { value: string }) {
  if (value.length <= 22) return <code>{value}</code>;
  return (
    <code title={value}>
      <span aria-hidden="true">
        {value.slice(0, 10)}…{value.slice(-8)}
      </span>
      <span className="visually-hidden">{value}</span>
    </code>
  );
}

/** A block's time; the genesis block has none (its header time is 0). */
function time(ms: number): string {
  return ms === 0 ? 'genesis' : new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

/** Wei as ether, exactly (no float): 18 decimals, trailing zeros dropped. */
function ether(wei: string): string {
  const v = BigInt(wei);
  const whole = v / 10n ** 18n;
  const frac = (v % 10n ** 18n).toString().padStart(18, '0').replace(/0+$/, '');
  return `${whole.toLocaleString()}${frac ? `.${frac}` : ''} ETH`;
}

// --- Search ------------------------------------------------------------------------------------------

function SearchBox({ appId }: { appId: string }) {
  const [q, setQ] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const found = await api<{ kind: 'block' | 'transaction' | 'account' | 'record' | 'identity'; id: string }>(
        'GET',
        `/api/apps/${appId}/explorer/search?q=${encodeURIComponent(q)}`,
      );
      const key = { block: 'block', transaction: 'tx', account: 'address', record: 'record', identity: 'did' }[found.kind];
      navigate(`/apps/${appId}/explorer?${key}=${encodeURIComponent(found.id)}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <search aria-label="Search the ledger">
      <form onSubmit={submit} className="row" style={{ marginTop: '0.5rem' }}>
        <div style={{ flex: '1 1 24rem' }}>
          <Field
            label="Search by block height, hash or address"
            mono
            value={q}
            onChange={setQ}
            placeholder="12, 0x… (transaction or block hash), 0x… (address), did:polis:…"
            hint="A number is a block height; 0x and 64 hex digits a transaction, block or record hash; 0x and 40 an address."
          />
        </div>
        <div className="field" style={{ minWidth: 0 }}>
          <Button type="submit" busy={busy}>
            Search
          </Button>
        </div>
        <div style={{ flexBasis: '100%' }}>
          <ErrorBox error={error} />
        </div>
      </form>
    </search>
  );
}

// --- Blocks ---------------------------------------------------------------------------------------------

type LiveState = { state: 'connecting' | 'live' | 'reconnecting' | 'off' | 'paused'; message?: string };

/** The latest blocks, a page at a time; the first page grows live as blocks arrive. */
function BlocksView({ appId }: { appId: string }) {
  const { query } = useRoute();
  const before = query.get('before');
  const page = useAsync(
    () =>
      api<{ head: number; blocks: BlockSummary[]; nextBefore?: number }>(
        'GET',
        `/api/apps/${appId}/explorer/blocks${before ? `?before=${before}` : ''}`,
      ),
    [appId, before],
  );
  const [arrived, setArrived] = useState<BlockSummary[]>([]);
  const [live, setLive] = useState<LiveState>({ state: 'connecting' });
  const [paused, setPaused] = useState(false);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  const firstPage = !before;

  useEffect(() => {
    setArrived([]);
    if (!firstPage) return;
    const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
    const socket = new WebSocket(`${scheme}://${window.location.host}/api/apps/${encodeURIComponent(appId)}/live`);
    let opened = false;
    socket.onopen = () => {
      opened = true;
    };
    socket.onmessage = (e) => {
      const msg = JSON.parse(String(e.data)) as
        | { type: 'block'; block: BlockSummary }
        | { type: 'status'; state: LiveState['state']; message?: string };
      if (msg.type === 'status') setLive({ state: msg.state, ...(msg.message ? { message: msg.message } : {}) });
      else if (!pausedRef.current) {
        setArrived((list) =>
          list.some((b) => b.number === msg.block.number) ? list : [msg.block, ...list].slice(0, LIVE_LIST_MAX),
        );
      }
    };
    socket.onclose = (e) => {
      setLive({
        state: 'off',
        message: opened
          ? e.reason || 'the connection closed'
          : 'the portal refused live updates (you may be signed out, or have too many explorer tabs open)',
      });
    };
    return () => socket.close();
  }, [appId, firstPage]);

  const loaded = page.data?.blocks ?? [];
  const top = loaded[0]?.number ?? -1;
  const blocks = firstPage ? [...arrived.filter((b) => b.number > top), ...loaded].slice(0, LIVE_LIST_MAX) : loaded;
  const state: LiveState = paused ? { state: 'paused' } : live;
  return (
    <section aria-labelledby="blocks-heading">
      <div className="row spread">
        <h2 id="blocks-heading">{firstPage ? 'Latest blocks' : `Blocks before ${before}`}</h2>
        {firstPage && (
          <div className="row" style={{ alignItems: 'center' }}>
            <p role="status" className="hint" data-testid="live-state" style={{ margin: 0 }}>
              <LiveBadge state={state} />
            </p>
            <button
              type="button"
              className="btn secondary small"
              aria-pressed={paused}
              onClick={() => {
                // Blocks made while paused were not kept: resuming reloads the list so that none is missing.
                if (paused) {
                  setArrived([]);
                  page.reload();
                }
                setPaused(!paused);
              }}
            >
              Pause live updates
            </button>
          </div>
        )}
      </div>
      {page.loading && !page.data && <Loading what="the latest blocks" />}
      <ErrorBox error={page.error} />
      {page.data && (
        <>
          <table data-testid="blocks">
            <caption className="visually-hidden">Blocks, latest first</caption>
            <thead>
              <tr>
                <th scope="col">Block</th>
                <th scope="col">Time</th>
                <th scope="col">Transactions</th>
                <th scope="col">Gas used</th>
                <th scope="col">Hash</th>
              </tr>
            </thead>
            <tbody>
              {blocks.map((b) => (
                <tr key={b.number} data-block={b.number}>
                  <th scope="row">
                    <To appId={appId} kind="block" id={b.number}>
                      {b.number.toLocaleString()}
                    </To>
                  </th>
                  <td>{time(b.timestampMs)}</td>
                  <td>
                    {b.transactionCount === 0 ? (
                      <span className="hint">none</span>
                    ) : (
                      <To appId={appId} kind="block" id={b.number}>
                        {b.transactionCount === 1 ? '1 transaction' : `${b.transactionCount} transactions`}
                      </To>
                    )}
                  </td>
                  <td>{Number(b.gasUsed).toLocaleString()}</td>
                  <td>
                    <Hex value={b.hash} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <p className="row">
            {!firstPage && <Link to={`/apps/${appId}/explorer`}>Latest blocks</Link>}
            {page.data.nextBefore !== undefined && (
              <Link to={`/apps/${appId}/explorer?before=${blocks[blocks.length - 1]?.number ?? page.data.nextBefore}`}>
                Older blocks
              </Link>
            )}
          </p>
        </>
      )}
    </section>
  );
}

function LiveBadge({ state }: { state: LiveState }) {
  const colour = state.state === 'live' ? 'var(--ok)' : state.state === 'off' ? 'var(--bad)' : 'var(--warn)';
  const words = {
    connecting: 'Connecting to live updates…',
    live: 'Live: new blocks appear as they are made',
    reconnecting: 'Reconnecting…',
    off: 'Live updates are off',
    paused: 'Live updates paused',
  }[state.state];
  return (
    <>
      <span aria-hidden="true" style={{ color: colour }}>
        ●{' '}
      </span>
      {words}
      {state.message && state.state !== 'live' ? `: ${state.message}` : ''}
      {state.state === 'off' ? '. Reload the page to try again.' : ''}
    </>
  );
}

function BlockView({ appId, block }: { appId: string; block: string }) {
  const b = useAsync(
    () => api<BlockDetail>('GET', `/api/apps/${appId}/explorer/blocks/${encodeURIComponent(block)}`),
    [appId, block],
  );
  if (b.loading && !b.data) return <Loading what={`block ${block}`} />;
  if (!b.data) return <ErrorBox error={b.error} />;
  const d = b.data;
  return (
    <section aria-labelledby="block-heading">
      <h2 id="block-heading">Block {d.number.toLocaleString()}</h2>
      <Facts
        rows={[
          ['Hash', <Copyable key="h" text={d.hash} label="block hash" />],
          ['Time', time(d.timestampMs)],
          ['Parent', d.number > 0 ? <To key="p" appId={appId} kind="block" id={d.number - 1} /> : 'none (the first block)'],
          ['Transactions', String(d.transactionCount)],
          ['Gas used', `${Number(d.gasUsed).toLocaleString()} of ${Number(d.gasLimit).toLocaleString()}`],
          ['Size', `${d.size.toLocaleString()} bytes`],
          ['State root', <Hex key="s" value={d.stateRoot} />],
          ['Proposer', <Hex key="m" value={d.miner} />],
        ]}
      />
      <p className="row">
        {d.number > 0 && (
          <To appId={appId} kind="block" id={d.number - 1}>
            ← Block {(d.number - 1).toLocaleString()}
          </To>
        )}
        <To appId={appId} kind="block" id={d.number + 1}>
          Block {(d.number + 1).toLocaleString()} →
        </To>
      </p>
      <h3>Transactions</h3>
      {d.transactions.length === 0 ? (
        <p>This block has no transactions: an idle ledger makes an empty block now and then, so that time moves on.</p>
      ) : (
        <table data-testid="block-transactions">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Hash</th>
              <th scope="col">From</th>
              <th scope="col">To</th>
              <th scope="col">Call</th>
            </tr>
          </thead>
          <tbody>
            {d.transactions.map((t) => (
              <tr key={t.hash}>
                <td>{t.index}</td>
                <td>
                  <To appId={appId} kind="tx" id={t.hash} />
                </td>
                <td>
                  <To appId={appId} kind="address" id={t.from} />
                </td>
                <td>
                  {t.to ? (
                    <To appId={appId} kind="address" id={t.to}>
                      {t.toName ?? <Hex value={t.to} />}
                    </To>
                  ) : (
                    'new contract'
                  )}
                </td>
                <td>{t.method ?? <span className="hint">unknown</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

// --- Transactions ----------------------------------------------------------------------------------------

function Facts({ rows }: { rows: [string, ReactNode][] }) {
  return (
    <dl
      className="facts"
      style={{ display: 'grid', gridTemplateColumns: 'minmax(8rem, max-content) 1fr', gap: '0.3rem 1rem', margin: '0 0 1rem' }}
    >
      {rows.map(([k, v]) => (
        <div key={k} style={{ display: 'contents' }}>
          <dt style={{ fontWeight: 600 }}>{k}</dt>
          <dd style={{ margin: 0, wordBreak: 'break-all' }}>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

/** An argument's value: addresses link to their account, the rest is shown as JSON would write it. */
function Value({ appId, arg }: { appId: string; arg: Arg }) {
  if (arg.type === 'address' && typeof arg.value === 'string')
    return <To appId={appId} kind="address" id={arg.value.toLowerCase()} />;
  if (typeof arg.value === 'string') return <code style={{ wordBreak: 'break-all' }}>{arg.value}</code>;
  return <code style={{ wordBreak: 'break-all' }}>{JSON.stringify(arg.value)}</code>;
}

function ArgsTable({ appId, args, caption }: { appId: string; args: Arg[]; caption: string }) {
  if (args.length === 0) return <p className="hint">No arguments.</p>;
  return (
    <table>
      <caption className="visually-hidden">{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Type</th>
          <th scope="col">Value</th>
        </tr>
      </thead>
      <tbody>
        {args.map((a) => (
          <tr key={a.name}>
            <th scope="row">
              {a.name}
              {a.indexed ? <span className="kind"> (indexed)</span> : null}
            </th>
            <td>
              <code>{a.type}</code>
            </td>
            <td>
              <Value appId={appId} arg={a} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function LogCard({ appId, log, showTx }: { appId: string; log: DecodedLog; showTx?: boolean }) {
  return (
    <li className="card" data-testid="log">
      <h4 style={{ margin: '0 0 0.25rem' }}>
        {log.event ?? 'Unknown event'}
        {log.logIndex !== undefined && <span className="kind"> · log {log.logIndex}</span>}
      </h4>
      <p style={{ margin: '0 0 0.25rem' }}>
        Emitted by{' '}
        <To appId={appId} kind="address" id={log.address}>
          {log.contract ?? <Hex value={log.address} />}
        </To>
        {showTx && log.transactionHash && (
          <>
            {' '}
            in <To appId={appId} kind="tx" id={log.transactionHash} />
            {log.blockNumber !== undefined && <> (block {log.blockNumber.toLocaleString()})</>}
          </>
        )}
      </p>
      {log.event ? (
        <>
          {log.matchedBy === 'signature' && (
            <p className="hint">Decoded by its signature {log.signature}: the emitter’s own ABI is not known to the portal.</p>
          )}
          <ArgsTable appId={appId} args={log.args ?? []} caption={`Arguments of ${log.event}`} />
        </>
      ) : (
        <>
          <p className="hint">No ABI the portal knows has this event; deploy the contract from the portal to see it decoded.</p>
          <Facts
            rows={[
              [
                'Topics',
                <span key="t">
                  {log.topics.map((t) => (
                    <code key={t} style={{ display: 'block' }}>
                      {t}
                    </code>
                  ))}
                </span>,
              ],
              ['Data', <code key="d">{log.data}</code>],
            ]}
          />
        </>
      )}
    </li>
  );
}

function TransactionView({ appId, hash }: { appId: string; hash: string }) {
  const tx = useAsync(
    () => api<TxDetail>('GET', `/api/apps/${appId}/explorer/transactions/${encodeURIComponent(hash)}`),
    [appId, hash],
  );
  if (tx.loading && !tx.data) return <Loading what="the transaction" />;
  if (!tx.data) return <ErrorBox error={tx.error} />;
  const t = tx.data;
  const outcome =
    t.status === 'pending' ? 'pending: waiting for a block' : t.receipt?.status === 'success' ? 'succeeded' : 'reverted';
  return (
    <section aria-labelledby="tx-heading">
      <h2 id="tx-heading">Transaction</h2>
      <Facts
        rows={[
          ['Hash', <Copyable key="h" text={t.hash} label="transaction hash" testId="tx-hash" />],
          [
            'Status',
            <span
              key="s"
              className={`status ${t.receipt?.status === 'success' ? 'active' : t.status === 'pending' ? 'pending' : 'suspended'}`}
            >
              {outcome}
            </span>,
          ],
          [
            'Block',
            t.blockNumber !== null ? (
              <To key="b" appId={appId} kind="block" id={t.blockNumber}>
                {t.blockNumber.toLocaleString()}
              </To>
            ) : (
              'not yet'
            ),
          ],
          ['From', <To key="f" appId={appId} kind="address" id={t.from} />],
          [
            'To',
            t.to ? (
              <To key="t" appId={appId} kind="address" id={t.to}>
                {t.toName ? `${t.toName} (${t.to})` : t.to}
              </To>
            ) : t.created ? (
              <span key="c">
                creates{' '}
                <To appId={appId} kind="address" id={t.created.address}>
                  {t.created.name ? `${t.created.name} (${t.created.address})` : t.created.address}
                </To>
              </span>
            ) : (
              'a new contract'
            ),
          ],
          ['Value', ether(t.value)],
          [
            'Gas used',
            t.receipt
              ? `${Number(t.receipt.gasUsed).toLocaleString()} of ${Number(t.gas).toLocaleString()}`
              : `limit ${Number(t.gas).toLocaleString()}`,
          ],
          ['Nonce', String(t.nonce)],
        ]}
      />
      <h3>Input</h3>
      {t.decodedInput ? (
        <>
          <p data-testid="decoded-input">
            Calls <strong>{t.decodedInput.function}</strong> of {t.decodedInput.contract} <code>{t.decodedInput.signature}</code>
            {t.decodedInput.matchedBy === 'selector' && (
              <span className="hint"> (decoded by its selector: the target’s own ABI is not known)</span>
            )}
          </p>
          <ArgsTable appId={appId} args={t.decodedInput.args} caption={`Arguments of ${t.decodedInput.function}`} />
        </>
      ) : (
        <p className="hint">
          {t.to === null
            ? 'A contract deployment: the input is the contract’s code and constructor arguments.'
            : t.input === '0x'
              ? 'No input: a plain transfer.'
              : 'The portal does not know the ABI of the target, so the input is shown as it is.'}
        </p>
      )}
      <details>
        <summary>Raw input ({Math.max(0, (t.input.length - 2) / 2).toLocaleString()} bytes)</summary>
        <pre className="snippet" style={{ whiteSpace: 'pre-wrap', wordBreak: 'break-all' }}>
          {t.input}
        </pre>
      </details>
      <h3>Logs</h3>
      {t.logs.length === 0 ? (
        <p>{t.receipt ? 'This transaction emitted no logs.' : 'Logs appear once the transaction is in a block.'}</p>
      ) : (
        <ul className="cards" data-testid="logs" style={{ gridTemplateColumns: 'minmax(0, 1fr)' }}>
          {t.logs.map((l, i) => (
            <LogCard key={`${l.logIndex ?? i}`} appId={appId} log={l} />
          ))}
        </ul>
      )}
    </section>
  );
}

// --- Accounts ---------------------------------------------------------------------------------------------

function AccountView({ appId, address }: { appId: string; address: string }) {
  const a = useAsync(
    () => api<Account>('GET', `/api/apps/${appId}/explorer/accounts/${encodeURIComponent(address)}`),
    [appId, address],
  );
  if (a.loading && !a.data) return <Loading what="the account" />;
  if (!a.data) return <ErrorBox error={a.error} />;
  const d = a.data;
  return (
    <section aria-labelledby="account-heading">
      <h2 id="account-heading">{d.contract ? `${d.contract.name}` : d.isContract ? 'Contract' : 'Account'}</h2>
      <Facts
        rows={[
          ['Address', <Copyable key="a" text={d.address} label="address" />],
          ['Kind', d.contract?.kind === 'service' ? 'built-in service' : d.isContract ? 'contract' : 'account (no code)'],
          ['Balance', ether(d.balance)],
          ['Nonce', d.pendingNonce > d.nonce ? `${d.nonce} (${d.pendingNonce - d.nonce} pending)` : String(d.nonce)],
          ['Code', d.isContract ? `${d.codeSize.toLocaleString()} bytes` : 'none'],
          [
            'As of block',
            <To key="b" appId={appId} kind="block" id={d.blockNumber}>
              {d.blockNumber.toLocaleString()}
            </To>,
          ],
        ]}
      />
      <p>
        <To appId={appId} kind="did" id={d.address}>
          Its DID, if it has one
        </To>
      </p>
      {d.isContract && (
        <>
          <h3>Events</h3>
          {d.eventsNote && <p className="hint">Showing {d.eventsNote}.</p>}
          {d.events && d.events.length === 0 && <p>No events in that range.</p>}
          {d.events && d.events.length > 0 && (
            <ul className="cards" style={{ gridTemplateColumns: 'minmax(0, 1fr)' }}>
              {d.events.map((l) => (
                <LogCard key={`${l.transactionHash}-${l.logIndex}`} appId={appId} log={l} showTx />
              ))}
            </ul>
          )}
        </>
      )}
      <p className="hint">Transactions: {d.transactionsNote}.</p>
    </section>
  );
}

// --- Records --------------------------------------------------------------------------------------------

function RecordsView({ appId }: { appId: string }) {
  const [submitter, setSubmitter] = useState('');
  const [tag, setTag] = useState('');
  const [filter, setFilter] = useState<{ submitter?: string; tag?: string }>({});
  const qs = new URLSearchParams(Object.entries(filter).filter((e): e is [string, string] => !!e[1])).toString();
  const list = useAsync(
    () =>
      api<{ fromBlock: number; toBlock: number; total: number; records: RecordEntry[] }>(
        'GET',
        `/api/apps/${appId}/explorer/records${qs ? `?${qs}` : ''}`,
      ),
    [appId, qs],
  );
  return (
    <section aria-labelledby="records-heading">
      <h2 id="records-heading">Records</h2>
      <p>Hashes recorded with the records service, most recent first.</p>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          setFilter({ submitter: submitter.trim(), tag: tag.trim() });
        }}
      >
        <Field label="Submitter (address)" mono value={submitter} onChange={setSubmitter} placeholder="0x…" />
        <Field label="Tag (32-byte hex)" mono value={tag} onChange={setTag} placeholder="0x…" />
        <div className="field" style={{ minWidth: 0 }}>
          <Button type="submit" busy={list.loading} kind="secondary">
            Filter
          </Button>
        </div>
      </form>
      <ErrorBox error={list.error} />
      {list.loading && !list.data && <Loading what="the records" />}
      {list.data && (
        <>
          <p className="hint">
            Blocks {list.data.fromBlock.toLocaleString()} to {list.data.toBlock.toLocaleString()}:{' '}
            {list.data.total.toLocaleString()} records
            {list.data.total > list.data.records.length ? `, the ${list.data.records.length} most recent shown` : ''}.
          </p>
          {list.data.records.length === 0 ? (
            <p>No records.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Hash</th>
                  <th scope="col">Submitter</th>
                  <th scope="col">Tag</th>
                  <th scope="col">Block</th>
                  <th scope="col">Transaction</th>
                </tr>
              </thead>
              <tbody>
                {list.data.records.map((r) => (
                  <tr key={`${r.transactionHash}-${r.hash}`}>
                    <td>
                      <To appId={appId} kind="record" id={r.hash} />
                    </td>
                    <td>
                      <To appId={appId} kind="address" id={r.submitter} />
                    </td>
                    <td>{r.tag === ZERO_TAG ? <span className="hint">none</span> : <Hex value={r.tag} />}</td>
                    <td>
                      <To appId={appId} kind="block" id={r.blockNumber}>
                        {r.blockNumber.toLocaleString()}
                      </To>
                    </td>
                    <td>
                      <To appId={appId} kind="tx" id={r.transactionHash} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}

function RecordView({ appId, hash }: { appId: string; hash: string }) {
  const r = useAsync(
    () =>
      api<{ hash: string; submitter: string; blockNumber: string; timestampMs: string; metaHash: string; tag: string }>(
        'GET',
        `/api/apps/${appId}/explorer/records/${encodeURIComponent(hash)}`,
      ),
    [appId, hash],
  );
  if (r.loading && !r.data) return <Loading what="the record" />;
  if (!r.data) return <ErrorBox error={r.error} />;
  const d = r.data;
  return (
    <section aria-labelledby="record-heading">
      <h2 id="record-heading">Record</h2>
      <Facts
        rows={[
          ['Hash', <Copyable key="h" text={d.hash} label="record hash" />],
          ['Submitter', <To key="s" appId={appId} kind="address" id={d.submitter.toLowerCase()} />],
          [
            'Block',
            <To key="b" appId={appId} kind="block" id={d.blockNumber}>
              {Number(d.blockNumber).toLocaleString()}
            </To>,
          ],
          ['Time', time(Number(d.timestampMs))],
          ['Tag', d.tag === ZERO_TAG ? 'none' : <code key="t">{d.tag}</code>],
          ['Hash of the metadata', <code key="m">{d.metaHash}</code>],
        ]}
      />
      <p className="hint">
        A record proves that the hash was on the ledger at that block; the SDK’s verifyRecordProof checks a record offline.
      </p>
    </section>
  );
}

// --- Certificates -------------------------------------------------------------------------------------------

function CertificatesView({ appId }: { appId: string }) {
  const { query } = useRoute();
  const before = query.get('before') ?? undefined;
  const list = useAsync(
    () =>
      api<{ count: string; collections: Collection[]; nextBefore?: string }>(
        'GET',
        `/api/apps/${appId}/explorer/certificates${before ? `?before=${before}` : ''}`,
      ),
    [appId, before],
  );
  const [collection, setCollection] = useState('');
  const [holder, setHolder] = useState('');
  const [holding, setHolding] = useState<
    { total: number; tokens: { tokenId: string; amount?: string; uri?: string; frozen?: boolean }[] } & Record<string, unknown>
  >();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const lookUp = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setHolding(undefined);
    try {
      setHolding(
        await api(
          'GET',
          `/api/apps/${appId}/explorer/certificates/${encodeURIComponent(collection.trim())}/holders/${encodeURIComponent(holder.trim())}`,
        ),
      );
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="certificates-heading">
      <h2 id="certificates-heading">Certificates</h2>
      {list.loading && !list.data && <Loading what="the collections" />}
      <ErrorBox error={list.error} />
      {list.data && (
        <>
          <p>
            {list.data.count === '0'
              ? 'No collection of certificates yet.'
              : `${Number(list.data.count).toLocaleString()} collections, the newest first.`}
          </p>
          {list.data.collections.length > 0 && (
            <table>
              <thead>
                <tr>
                  <th scope="col">Id</th>
                  <th scope="col">Name</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Supply</th>
                  <th scope="col">Issuer</th>
                  <th scope="col">Address</th>
                </tr>
              </thead>
              <tbody>
                {list.data.collections.map((c) => (
                  <tr key={c.id}>
                    <td>{c.id}</td>
                    <td>
                      {c.name} {c.symbol ? <span className="kind">({c.symbol})</span> : null}
                    </td>
                    <td>
                      {String(c.kind) === '0'
                        ? 'unique (ERC-721 style)'
                        : String(c.kind) === '1'
                          ? 'amounts (ERC-1155 style)'
                          : c.kind}
                      {c.transferable === false ? ', not transferable' : ''}
                    </td>
                    <td>{c.supply}</td>
                    <td>{c.issuer && <To appId={appId} kind="address" id={c.issuer.toLowerCase()} />}</td>
                    <td>{c.collectionAddress && <To appId={appId} kind="address" id={c.collectionAddress.toLowerCase()} />}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {list.data.nextBefore && (
            <Link to={`/apps/${appId}/explorer?view=certificates&before=${list.data.nextBefore}`}>Older collections</Link>
          )}
        </>
      )}
      <h3>What a holder has</h3>
      <form className="row" onSubmit={lookUp}>
        <Field label="Collection id" value={collection} onChange={setCollection} placeholder="1" />
        <Field label="Holder (address)" mono value={holder} onChange={setHolder} placeholder="0x…" />
        <div className="field" style={{ minWidth: 0 }}>
          <Button type="submit" busy={busy} kind="secondary">
            Look up
          </Button>
        </div>
      </form>
      <ErrorBox error={error} />
      {holding && (
        <>
          <p>
            {holding.total === 0
              ? 'This holder has nothing in the collection.'
              : `${holding.total} token(s)${holding.total > holding.tokens.length ? `, ${holding.tokens.length} shown` : ''}.`}
          </p>
          {holding.tokens.length > 0 && (
            <table>
              <thead>
                <tr>
                  <th scope="col">Token</th>
                  <th scope="col">Amount</th>
                  <th scope="col">URI</th>
                  <th scope="col">Frozen</th>
                </tr>
              </thead>
              <tbody>
                {holding.tokens.map((t) => (
                  <tr key={t.tokenId}>
                    <td>{t.tokenId}</td>
                    <td>{t.amount ?? '1'}</td>
                    <td style={{ wordBreak: 'break-all' }}>{t.uri}</td>
                    <td>{t.frozen ? 'yes' : 'no'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}

// --- Identity ---------------------------------------------------------------------------------------------

function IdentityLookup({ appId }: { appId: string }) {
  const [value, setValue] = useState('');
  return (
    <section aria-labelledby="identity-heading">
      <h2 id="identity-heading">Identity</h2>
      <p>Resolve a DID of this app (did:polis:{appId}:0x…) or the address it names, to its DID document.</p>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          if (value.trim()) navigate(`/apps/${appId}/explorer?did=${encodeURIComponent(value.trim())}`);
        }}
      >
        <Field label="DID or address" mono value={value} onChange={setValue} placeholder={`did:polis:${appId}:0x…`} />
        <div className="field" style={{ minWidth: 0 }}>
          <Button type="submit" kind="secondary">
            Resolve
          </Button>
        </div>
      </form>
    </section>
  );
}

function IdentityView({ appId, did }: { appId: string; did: string }) {
  const r = useAsync(
    () =>
      api<{
        deactivated: boolean;
        message?: string;
        didDocument?: Record<string, unknown>;
        didDocumentMetadata?: Record<string, unknown>;
        controller?: string;
      }>('GET', `/api/apps/${appId}/explorer/identity/${encodeURIComponent(did)}`),
    [appId, did],
  );
  return (
    <section aria-labelledby="did-heading">
      <h2 id="did-heading">Identity</h2>
      <p>
        <code style={{ wordBreak: 'break-all' }}>{did}</code>
      </p>
      {r.loading && !r.data && <Loading what="the DID" />}
      <ErrorBox error={r.error} />
      {r.data && (
        <>
          {r.data.deactivated && (
            <p className="error-box" role="note">
              Deactivated: {r.data.message ?? 'this DID no longer identifies anyone'}.
            </p>
          )}
          <Facts
            rows={[
              ['Controller', r.data.controller ? <To key="c" appId={appId} kind="address" id={r.data.controller} /> : '—'],
              ['Created', String(r.data.didDocumentMetadata?.created ?? '—')],
              ['Updated', String(r.data.didDocumentMetadata?.updated ?? '—')],
            ]}
          />
          <h3>DID document</h3>
          <pre className="snippet">{JSON.stringify(r.data.didDocument, null, 2)}</pre>
        </>
      )}
    </section>
  );
}
