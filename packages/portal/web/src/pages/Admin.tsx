/**
 * The admin view: pending app requests, open proposals, the nodes and apps, regulators, and the
 * executed and failed actions. Every action is a governance transaction signed here, in the
 * browser, with the admin's key (see ../governance.ts); the portal only relays the signed bytes
 * and answers with what happened, in plain words.
 */
import type { Action, GovBody } from '@polis/governance';
import { type FormEvent, type ReactNode, useCallback, useId, useState } from 'react';
import { ApiError, api } from '../api.js';
import { Button, ErrorBox, Field, Loading, useAsync } from '../components/ui.js';
import {
  type AdminKey,
  bodyFor,
  forgetAdminKey,
  hasApproved,
  keyFromHex,
  keyFromKeystore,
  openProposalFor,
  type ProposalView,
  setAdminKey,
  signAndSubmit,
  useAdminKey,
} from '../governance.js';
import { Link } from '../router.js';

/** A node as the portal API lists it. */
export type NodeView = {
  publicKey: string;
  name: string;
  region: string;
  status: 'pending' | 'active' | 'suspended' | 'removed';
  operator: string;
  since: number;
  addrs: string[];
  url?: string;
  uptimeMs?: number;
  health: {
    ok: boolean;
    latencyMs?: number;
    apps?: string[];
    ledgers?: { id: string; height: number; mempool: number }[];
    peers?: number;
  };
};

type AppView = {
  id: string;
  owner: string;
  chainId: number;
  plan: string;
  status: string;
  validators: string[];
  validatorNames?: string[];
  name?: string;
  requestedAt?: number;
};

/** What `/api/admin/overview` answers. */
export type Overview = {
  alliance: { admins: string[]; threshold: number; policy: { autoApproveApps: boolean } };
  height: number;
  proposals: { open: ProposalView[]; closed: ProposalView[]; closedTotal: number };
  pendingApps: AppView[];
  apps: AppView[];
  appsTotal: number;
  nodes: NodeView[];
};

const KEY_SECTION_ID = 'admin-key';

/** Shortens an address or key for a table: 0x1234…abcd (the full value is in the title). */
export function short(hex: string): string {
  return hex.length > 14 ? `${hex.slice(0, 6)}…${hex.slice(-4)}` : hex;
}

function when(ms: number): string {
  return new Date(ms).toLocaleString();
}

/** The outcome of the last action, or its error. */
export type SignerState = { outcome?: string; error?: unknown };

/** Signing actions from a page: one at a time, the outcome kept for the page to show. */
export function useSigner(open: readonly ProposalView[] | undefined, after: () => void) {
  const key = useAdminKey();
  const [busy, setBusy] = useState<string>();
  const [state, setState] = useState<SignerState>({});
  const run = useCallback(
    async (id: string, body: (now: number) => GovBody) => {
      if (!key) {
        setState({
          error: new ApiError(
            0,
            'NO_KEY',
            'add your admin key first',
            'Paste it or open your key file under “Your admin key”; it stays in this page',
          ),
        });
        document.getElementById(KEY_SECTION_ID)?.focus();
        return;
      }
      setBusy(id);
      setState({});
      try {
        const result = await signAndSubmit(key, body(Date.now()));
        setState({ outcome: result.outcome });
      } catch (err) {
        setState({ error: err });
      } finally {
        setBusy(undefined);
        after();
      }
    },
    [key, after],
  );
  return {
    key,
    busy,
    state,
    /** Proposes `action`, or approves its open proposal when an admin proposed it already. */
    act: (id: string, action: Action) => run(id, (now) => bodyFor(action, open ?? [], now)),
    approve: (id: string, proposalId: number) => run(id, () => ({ type: 'approve', proposalId })),
  };
}

/** What the last action did, announced to screen readers. */
export function Outcome({ state }: { state: SignerState }) {
  return (
    // Sticky, so that the outcome of a button far down the page is in view.
    <div className="outcome" style={{ position: 'sticky', top: 0, zIndex: 1 }}>
      <div role="status" aria-live="polite">
        {state.outcome && (
          <p className="notice" data-testid="outcome">
            {state.outcome}.
          </p>
        )}
      </div>
      <ErrorBox error={state.error} />
    </div>
  );
}

/** Where the admin gives their key: a pasted private key or a keystore file and its password. */
export function KeyPanel({ admins }: { admins?: readonly string[] }) {
  const key = useAdminKey();
  const [mode, setMode] = useState<'paste' | 'keystore'>('paste');
  const [hex, setHex] = useState('');
  const [file, setFile] = useState<{ name: string; text: string }>();
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const fileId = useId();
  const isAdmin = key && admins ? admins.some((a) => a.toLowerCase() === key.address) : undefined;

  const use = (k: AdminKey) => {
    setAdminKey(k);
    setHex('');
    setPassword('');
    setError(undefined);
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    if (mode === 'paste') {
      try {
        use(keyFromHex(hex));
      } catch (err) {
        setError(err);
      }
      return;
    }
    if (!file) {
      setError(new ApiError(0, 'NO_FILE', 'choose your key file first', 'It is a keystore v3 JSON file'));
      return;
    }
    setBusy(true);
    // Decrypting runs scrypt on this thread for a second or more: let the busy state paint first.
    await new Promise((done) => setTimeout(done, 30));
    try {
      use(keyFromKeystore(file.text, password));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section id={KEY_SECTION_ID} tabIndex={-1} aria-labelledby={`${KEY_SECTION_ID}-h`} className="card">
      <h2 id={`${KEY_SECTION_ID}-h`}>Your admin key</h2>
      <p className="hint">
        Transactions are signed in this page. The key stays in the page’s memory: it is never sent to the portal, never stored,
        and it is gone when you reload or close the page.
      </p>
      {key ? (
        <>
          <p data-testid="signing-as">
            Signing as <code title={key.address}>{key.address}</code>
            {isAdmin === true && ' — an admin of the alliance.'}
          </p>
          {isAdmin === false && (
            <p className="error-box" role="alert">
              This key’s address is not one of the alliance’s {admins?.length} admins: the network would refuse what it signs.
              Forget it and give an admin’s key.
            </p>
          )}
          <Button kind="secondary" onClick={forgetAdminKey}>
            Forget the key
          </Button>
        </>
      ) : (
        <form onSubmit={submit} noValidate>
          <fieldset>
            <legend>How to give it</legend>
            <label>
              <input type="radio" name="key-mode" checked={mode === 'paste'} onChange={() => setMode('paste')} /> Paste a private
              key
            </label>
            <label>
              <input type="radio" name="key-mode" checked={mode === 'keystore'} onChange={() => setMode('keystore')} /> Open a
              keystore file
            </label>
          </fieldset>
          {mode === 'paste' ? (
            <Field
              label="Private key"
              type="password"
              name="admin-private-key"
              autoComplete="off"
              value={hex}
              onChange={setHex}
              mono
              hint="64 hex digits, with or without 0x"
            />
          ) : (
            <>
              <div className="field">
                <label htmlFor={fileId}>Keystore file (JSON)</label>
                <input
                  id={fileId}
                  type="file"
                  accept=".json,application/json"
                  onChange={async (e) => {
                    const f = e.target.files?.[0];
                    setFile(f ? { name: f.name, text: await f.text() } : undefined);
                  }}
                />
              </div>
              <Field
                label="Key file password"
                type="password"
                name="keystore-password"
                autoComplete="off"
                value={password}
                onChange={setPassword}
              />
            </>
          )}
          <ErrorBox error={error} />
          <Button type="submit" busy={busy}>
            {busy ? 'Opening the key file…' : 'Use this key'}
          </Button>
        </form>
      )}
      {admins && (
        <details>
          <summary>The alliance’s admins ({admins.length})</summary>
          <ul className="plain mono">
            {admins.map((a) => (
              <li key={a}>{a}</li>
            ))}
          </ul>
        </details>
      )}
    </section>
  );
}

type Signer = ReturnType<typeof useSigner>;

/** A button that proposes `action`, or approves its open proposal; `label` names the action and its target. */
export function ActionButton(props: {
  signer: Signer;
  open: readonly ProposalView[];
  action: Action;
  label: string;
  text: string;
  kind?: 'primary' | 'secondary' | 'danger';
}) {
  const { signer, action, label } = props;
  const proposal = openProposalFor(action, props.open);
  const mine = proposal !== undefined && signer.key !== undefined && hasApproved(proposal, signer.key.address);
  return (
    <Button
      kind={props.kind ?? 'secondary'}
      busy={signer.busy === label}
      disabled={signer.busy !== undefined || mine}
      label={label}
      onClick={() => void signer.act(label, action)}
    >
      {mine ? 'Approved by you' : props.text}
    </Button>
  );
}

/** The approvals of the open proposal for `action`, if there is one. */
export function Approvals({ open, action }: { open: readonly ProposalView[]; action: Action }) {
  const p = openProposalFor(action, open);
  if (!p) return <span className="hint">not proposed</span>;
  return (
    <span>
      {p.approvalsCounted} of {p.threshold} (proposal {p.id})
    </span>
  );
}

function Table(props: { caption: string; head: string[]; children: ReactNode }) {
  return (
    <div className="table-scroll" style={{ overflowX: 'auto' }}>
      <table>
        <caption className="visually-hidden">{props.caption}</caption>
        <thead>
          <tr>
            {props.head.map((h) => (
              <th key={h} scope="col">
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}

function PendingApps({ data, signer }: { data: Overview; signer: Signer }) {
  const open = data.proposals.open;
  return (
    <section aria-labelledby="pending-apps-h">
      <h2 id="pending-apps-h">App requests waiting for approval</h2>
      {data.pendingApps.length === 0 ? (
        <p>
          No app is waiting{data.alliance.policy.autoApproveApps ? ': this network approves app requests without a vote' : ''}.
        </p>
      ) : (
        <Table caption="App requests waiting for approval" head={['App', 'Owner', 'Nodes', 'Plan', 'Approvals', '']}>
          {data.pendingApps.map((a) => {
            const action: Action = { type: 'approveApp', appId: a.id };
            return (
              <tr key={a.id} data-testid={`pending-app-${a.id}`}>
                <td>
                  <strong>{a.id}</strong>
                  {a.requestedAt ? <span className="hint"> requested {when(a.requestedAt)}</span> : null}
                </td>
                <td>
                  <code title={a.owner}>{short(a.owner)}</code>
                </td>
                <td>{(a.validatorNames ?? a.validators.map(short)).join(', ')}</td>
                <td>{a.plan}</td>
                <td>
                  <Approvals open={open} action={action} />
                </td>
                <td>
                  <ActionButton
                    signer={signer}
                    open={open}
                    action={action}
                    label={`Approve app ${a.id}`}
                    text="Approve"
                    kind="primary"
                  />
                </td>
              </tr>
            );
          })}
        </Table>
      )}
    </section>
  );
}

function OpenProposals({ data, signer }: { data: Overview; signer: Signer }) {
  const open = data.proposals.open;
  return (
    <section aria-labelledby="open-proposals-h">
      <h2 id="open-proposals-h">Open proposals</h2>
      {open.length === 0 ? (
        <p>No proposal is waiting for approvals.</p>
      ) : (
        <Table caption="Open proposals" head={['#', 'Action', 'Approvals', 'Expires', '']}>
          {open.map((p) => {
            const mine = signer.key !== undefined && hasApproved(p, signer.key.address);
            const label = `Approve proposal ${p.id}: ${p.summary}`;
            return (
              <tr key={p.id} data-testid={`proposal-${p.id}`}>
                <td>{p.id}</td>
                <td>{p.summary}</td>
                <td>
                  {p.approvalsCounted} of {p.threshold}
                  <span className="hint">
                    {' '}
                    by{' '}
                    {p.approvals.map((a) => (
                      <code key={a.address} title={a.address}>
                        {short(a.address)}{' '}
                      </code>
                    ))}
                  </span>
                </td>
                <td>{when(p.expiresAt)}</td>
                <td>
                  <Button
                    kind="primary"
                    busy={signer.busy === label}
                    disabled={signer.busy !== undefined || mine}
                    label={label}
                    onClick={() => void signer.approve(label, p.id)}
                  >
                    {mine ? 'Approved by you' : 'Approve'}
                  </Button>
                </td>
              </tr>
            );
          })}
        </Table>
      )}
    </section>
  );
}

function nodeAction(n: NodeView): { action: Action; verb: string } | undefined {
  const publicKey = n.publicKey as `0x${string}`;
  if (n.status === 'active') return { action: { type: 'suspendNode', publicKey }, verb: 'Suspend' };
  if (n.status === 'suspended') return { action: { type: 'admitNode', publicKey }, verb: 'Resume' };
  if (n.status === 'pending') return { action: { type: 'admitNode', publicKey }, verb: 'Admit' };
  return undefined;
}

/** A node's status in words, with its health. */
export function NodeStatus({ node }: { node: NodeView }) {
  const words = { active: 'active', pending: 'waiting for admission', suspended: 'suspended', removed: 'removed' }[node.status];
  return (
    <span>
      <span className={`status ${node.status}`} data-testid={`node-status-${node.name}`}>
        {words}
      </span>
      {node.status !== 'pending' && node.status !== 'removed' && (
        <span className={`health ${node.health.ok ? 'ok' : 'down'}`}>
          {' '}
          · {node.health.ok ? `up, ${node.health.latencyMs ?? '?'} ms` : 'not reachable'}
        </span>
      )}
    </span>
  );
}

function Nodes({ data, signer }: { data: Overview; signer: Signer }) {
  const open = data.proposals.open;
  return (
    <section aria-labelledby="nodes-h">
      <h2 id="nodes-h">Nodes</h2>
      <p className="hint">
        A suspended node is dropped by its peers and its ledgers go on without it; resuming it lets it back in. The{' '}
        <Link to="/operator">nodes page</Link> shows their health in detail.
      </p>
      <Table caption="The network's nodes" head={['Node', 'Region', 'Status', 'Approvals', '']}>
        {[...data.nodes]
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((n) => {
            const next = nodeAction(n);
            return (
              <tr key={n.publicKey} data-testid={`node-${n.name}`}>
                <td>
                  <strong>{n.name}</strong> <code title={n.publicKey}>{short(n.publicKey)}</code>
                </td>
                <td>{n.region || 'unknown'}</td>
                <td>
                  <NodeStatus node={n} />
                </td>
                <td>{next ? <Approvals open={open} action={next.action} /> : null}</td>
                <td>
                  {next && (
                    <ActionButton
                      signer={signer}
                      open={open}
                      action={next.action}
                      label={`${next.verb} node ${n.name}`}
                      text={next.verb}
                      kind={next.verb === 'Suspend' ? 'danger' : 'primary'}
                    />
                  )}
                </td>
              </tr>
            );
          })}
      </Table>
    </section>
  );
}

function Apps({ data, signer }: { data: Overview; signer: Signer }) {
  const open = data.proposals.open;
  const shown = data.apps.filter((a) => a.status === 'active' || a.status === 'suspended');
  return (
    <section aria-labelledby="apps-h">
      <h2 id="apps-h">Apps</h2>
      <p className="hint">A suspended app refuses transactions; reads go on. Resuming it lets transactions in again.</p>
      {shown.length === 0 ? (
        <p>No app is running yet.</p>
      ) : (
        <Table caption="The network's apps" head={['App', 'Owner', 'Plan', 'Status', 'Approvals', '']}>
          {shown.map((a) => {
            const action: Action =
              a.status === 'active' ? { type: 'suspendApp', appId: a.id } : { type: 'resumeApp', appId: a.id };
            const verb = a.status === 'active' ? 'Suspend' : 'Resume';
            return (
              <tr key={a.id} data-testid={`app-${a.id}`}>
                <td>
                  <strong>{a.id}</strong> <span className="hint">chain id {a.chainId}</span>
                </td>
                <td>
                  <code title={a.owner}>{short(a.owner)}</code>
                </td>
                <td>{a.plan}</td>
                <td>
                  <span className={`status ${a.status}`}>{a.status}</span>
                </td>
                <td>
                  <Approvals open={open} action={action} />
                </td>
                <td>
                  <ActionButton
                    signer={signer}
                    open={open}
                    action={action}
                    label={`${verb} app ${a.id}`}
                    text={verb}
                    kind={verb === 'Suspend' ? 'danger' : 'primary'}
                  />
                </td>
              </tr>
            );
          })}
        </Table>
      )}
      {data.appsTotal > data.apps.length && (
        <p className="hint">
          The first {data.apps.length} of {data.appsTotal} apps are listed.
        </p>
      )}
    </section>
  );
}

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

function Regulators({ signer }: { signer: Signer }) {
  const [address, setAddress] = useState('');
  const [scope, setScope] = useState<'all' | 'some'>('some');
  const [apps, setApps] = useState('');
  const [revoke, setRevoke] = useState('');
  const [invalid, setInvalid] = useState<{ grant?: string; apps?: string; revoke?: string }>({});

  const grant = (e: FormEvent) => {
    e.preventDefault();
    const list = apps
      .split(/[\s,]+/)
      .map((a) => a.trim())
      .filter(Boolean);
    const problems = {
      ...(ADDRESS.test(address.trim()) ? {} : { grant: 'Give the regulator’s address: 0x and 40 hex digits' }),
      ...(scope === 'some' && list.length === 0 ? { apps: 'Name at least one app, or choose every app' } : {}),
    };
    setInvalid(problems);
    if (Object.keys(problems).length > 0) return;
    const who = address.trim().toLowerCase() as `0x${string}`;
    void signer.act(`Grant regulator ${who}`, { type: 'grantRegulator', address: who, apps: scope === 'all' ? 'all' : list });
  };

  const revokeGrant = (e: FormEvent) => {
    e.preventDefault();
    if (!ADDRESS.test(revoke.trim())) {
      setInvalid({ revoke: 'Give the regulator’s address: 0x and 40 hex digits' });
      return;
    }
    setInvalid({});
    const who = revoke.trim().toLowerCase() as `0x${string}`;
    void signer.act(`Revoke regulator ${who}`, { type: 'revokeRegulator', address: who });
  };

  return (
    <section aria-labelledby="regulators-h">
      <h2 id="regulators-h">Regulators</h2>
      <p className="hint">
        A regulator reads the ledgers it is granted (search, the audit log, exports) with its own account key.
      </p>
      <div className="cards" style={{ alignItems: 'start' }}>
        <form className="card" onSubmit={grant} noValidate aria-labelledby="grant-h">
          <h3 id="grant-h">Grant access</h3>
          <Field
            label="Regulator address"
            name="regulator-address"
            value={address}
            onChange={setAddress}
            mono
            error={invalid.grant}
            placeholder="0x…"
          />
          <fieldset>
            <legend>Apps it may read</legend>
            <label>
              <input type="radio" name="regulator-scope" checked={scope === 'some'} onChange={() => setScope('some')} /> These
              apps
            </label>
            <label>
              <input type="radio" name="regulator-scope" checked={scope === 'all'} onChange={() => setScope('all')} /> Every app,
              present and future
            </label>
          </fieldset>
          {scope === 'some' && (
            <Field
              label="App ids"
              name="regulator-apps"
              value={apps}
              onChange={setApps}
              hint="Separated by commas or spaces"
              error={invalid.apps}
            />
          )}
          <Button type="submit" busy={signer.busy?.startsWith('Grant regulator')} disabled={signer.busy !== undefined}>
            Sign the grant
          </Button>
        </form>
        <form className="card" onSubmit={revokeGrant} noValidate aria-labelledby="revoke-h">
          <h3 id="revoke-h">Revoke access</h3>
          <Field
            label="Regulator address"
            name="revoke-address"
            value={revoke}
            onChange={setRevoke}
            mono
            error={invalid.revoke}
            placeholder="0x…"
          />
          <Button
            type="submit"
            kind="danger"
            busy={signer.busy?.startsWith('Revoke regulator')}
            disabled={signer.busy !== undefined}
          >
            Sign the revocation
          </Button>
        </form>
      </div>
    </section>
  );
}

function History({ data }: { data: Overview }) {
  const closed = data.proposals.closed;
  const result = (p: ProposalView) => {
    if (p.effectiveStatus === 'executed') return `Executed at height ${p.closedAt}`;
    if (p.effectiveStatus === 'failed')
      return `Failed at height ${p.closedAt}: ${p.error?.message ?? p.error?.code ?? 'no reason given'}`;
    return `Expired ${when(p.expiresAt)} with ${p.approvalsCounted} of ${p.threshold} approvals`;
  };
  return (
    <section aria-labelledby="history-h">
      <h2 id="history-h">Executed and failed actions</h2>
      {closed.length === 0 ? (
        <p>No action has run yet.</p>
      ) : (
        <Table caption="Closed proposals, newest first" head={['#', 'Action', 'Result', 'Approved by']}>
          {closed.map((p) => (
            <tr key={p.id} data-testid={`closed-${p.id}`}>
              <td>{p.id}</td>
              <td>{p.summary}</td>
              <td>
                <span className={`status ${p.effectiveStatus}`}>{result(p)}</span>
              </td>
              <td>
                {p.approvals.map((a) => (
                  <code key={a.address} title={a.address}>
                    {short(a.address)}{' '}
                  </code>
                ))}
              </td>
            </tr>
          ))}
        </Table>
      )}
      {data.proposals.closedTotal > closed.length && (
        <p className="hint">
          The latest {closed.length} of {data.proposals.closedTotal} closed proposals are listed.
        </p>
      )}
    </section>
  );
}

/** The admin view. */
export function AdminPage() {
  const overview = useAsync(() => api<Overview>('GET', '/api/admin/overview'), []);
  const signer = useSigner(overview.data?.proposals.open, overview.reload);
  const data = overview.data;
  return (
    <section aria-labelledby="admin-h">
      <h1 id="admin-h">Governance</h1>
      {data && (
        <p>
          The alliance has {data.alliance.admins.length} admins; {data.alliance.threshold} of them must approve each action. The
          system ledger is at height {data.height}.
        </p>
      )}
      <KeyPanel {...(data ? { admins: data.alliance.admins } : {})} />
      <Outcome state={signer.state} />
      {overview.loading && !data && <Loading what="the system ledger" />}
      <ErrorBox error={overview.error} />
      {data && (
        <>
          <PendingApps data={data} signer={signer} />
          <OpenProposals data={data} signer={signer} />
          <Nodes data={data} signer={signer} />
          <Apps data={data} signer={signer} />
          <Regulators signer={signer} />
          <History data={data} />
        </>
      )}
    </section>
  );
}
