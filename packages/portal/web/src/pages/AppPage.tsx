/**
 * One app: its endpoints and snippets, API keys, participants, contracts (deploy and call), the
 * explorer and its usage. Each tab has its own address (/apps/:id/:tab).
 */
import { type FormEvent, useState } from 'react';
import { api } from '../api.js';
import { Button, Copyable, ErrorBox, Field, Loading, Tabs, useAsync, useDraft } from '../components/ui.js';
import { navigate } from '../router.js';
import type { AppSummary } from './Apps.js';
import { ContractsTab } from './Contracts.js';
import { ExplorerTab } from './Explorer.js';
import { UsageTab } from './Usage.js';

type Endpoint = { node: string; region: string; serving: boolean; rpcUrl: string; wsUrl: string; restUrl: string };
type Snippets = { ethers: string; viem: string; hardhat: string; foundry: string; curl: string };
type AppDetail = { app: AppSummary & { ownerAddress: string }; endpoints: Endpoint[]; snippets?: Snippets };

const TABS = [
  { id: 'overview', title: 'Overview' },
  { id: 'keys', title: 'API keys' },
  { id: 'participants', title: 'Participants' },
  { id: 'contracts', title: 'Contracts' },
  { id: 'explorer', title: 'Explorer' },
  { id: 'usage', title: 'Usage and bill' },
];

/** The app page. */
export function AppPage({ appId, tab }: { appId: string; tab: string }) {
  const detail = useAsync(() => api<AppDetail>('GET', `/api/apps/${appId}`), [appId]);
  const current = TABS.some((t) => t.id === tab) ? tab : 'overview';
  return (
    <section>
      <h1>{detail.data?.app.name ?? appId}</h1>
      {detail.data && (
        <p>
          <span className={`status ${detail.data.app.status}`}>{detail.data.app.status}</span> · {detail.data.app.plan} plan ·
          chain id {detail.data.app.chainId} · {detail.data.app.keyMode === 'trust' ? 'the gateway keeps keys' : 'clients sign'} ·{' '}
          {detail.data.app.accessPolicy === 'open' ? 'open to any key holder' : 'participants only'}
        </p>
      )}
      <Tabs label="App sections" tabs={TABS} active={current} onSelect={(id) => navigate(`/apps/${appId}/${id}`)} />
      <div role="tabpanel" id={`panel-${current}`} aria-labelledby={`tab-${current}`} className="panel">
        {detail.loading && !detail.data && <Loading what="the app" />}
        <ErrorBox error={detail.error} />
        {detail.data && current === 'overview' && <Overview detail={detail.data} />}
        {current === 'keys' && <KeysTab appId={appId} />}
        {current === 'participants' && <ParticipantsTab appId={appId} />}
        {current === 'contracts' && <ContractsTab appId={appId} />}
        {current === 'explorer' && <ExplorerTab appId={appId} />}
        {current === 'usage' && <UsageTab appId={appId} />}
      </div>
    </section>
  );
}

function Overview({ detail }: { detail: AppDetail }) {
  const [tool, setTool] = useState<keyof Snippets>('ethers');
  return (
    <>
      <h2>Endpoints</h2>
      <p>Put one of your API keys in place of &lt;API key&gt;; each node below runs the app's ledger.</p>
      <table>
        <thead>
          <tr>
            <th scope="col">Node</th>
            <th scope="col">JSON-RPC</th>
            <th scope="col">Serving</th>
          </tr>
        </thead>
        <tbody>
          {detail.endpoints.map((e) => (
            <tr key={e.rpcUrl}>
              <td>
                {e.node}
                {e.region ? ` (${e.region})` : ''}
              </td>
              <td>
                <Copyable text={e.rpcUrl} label={`endpoint at ${e.node}`} />
              </td>
              <td>{e.serving ? 'yes' : 'starting'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {detail.snippets && (
        <>
          <h2>Connect</h2>
          <Tabs
            label="Tools"
            tabs={[
              { id: 'ethers', title: 'ethers' },
              { id: 'viem', title: 'viem' },
              { id: 'hardhat', title: 'Hardhat' },
              { id: 'foundry', title: 'Foundry' },
              { id: 'curl', title: 'curl' },
            ]}
            active={tool}
            onSelect={(id) => setTool(id as keyof Snippets)}
          />
          <div role="tabpanel" id={`panel-${tool}`} aria-labelledby={`tab-${tool}`}>
            <pre className="snippet">
              <code>{detail.snippets[tool]}</code>
            </pre>
            <Copyable text={detail.snippets[tool]} label={`${tool} snippet`} />
          </div>
        </>
      )}
      <p className="hint">Owner address on the system ledger: {detail.app.ownerAddress}</p>
    </>
  );
}

type KeyMeta = { keyId: string; label: string; scopes: string[]; createdAt: number; revokedAt?: number };

function KeysTab({ appId }: { appId: string }) {
  const keys = useAsync(() => api<{ keys: KeyMeta[] }>('GET', `/api/apps/${appId}/keys`), [appId]);
  const [label, setLabel] = useState('');
  const [busy, setBusy] = useState<string>();
  const [error, setError] = useState<unknown>();
  const [secret, setSecret] = useState<string>();
  const run = async (what: string, call: () => Promise<{ apiKey?: string }>) => {
    setBusy(what);
    setError(undefined);
    try {
      const result = await call();
      setSecret(result.apiKey);
      keys.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(undefined);
    }
  };
  return (
    <>
      <h2>API keys</h2>
      {secret && (
        <div className="notice" role="status">
          <p>The new key, shown only now:</p>
          <Copyable text={secret} label="new API key" testId="new-api-key" />
        </div>
      )}
      <form
        className="row"
        onSubmit={(e: FormEvent) => {
          e.preventDefault();
          void run('create', () => api('POST', `/api/apps/${appId}/keys`, { label, scopes: ['read', 'write'] }));
        }}
      >
        <Field label="Label for a new key" value={label} onChange={setLabel} />
        <Button type="submit" busy={busy === 'create'}>
          Create key
        </Button>
      </form>
      <ErrorBox error={error} />
      {keys.loading && !keys.data && <Loading what="the keys" />}
      {keys.data && (
        <table>
          <thead>
            <tr>
              <th scope="col">Key id</th>
              <th scope="col">Label</th>
              <th scope="col">Scopes</th>
              <th scope="col">Created</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {keys.data.keys.map((k) => (
              <tr key={k.keyId}>
                <td>
                  <code>pk_{k.keyId}</code>
                </td>
                <td>{k.label || '—'}</td>
                <td>{k.scopes.join(', ')}</td>
                <td>{new Date(k.createdAt).toLocaleString()}</td>
                <td>
                  {k.revokedAt ? (
                    `revoked ${new Date(k.revokedAt).toLocaleString()}`
                  ) : (
                    <span className="row">
                      <Button
                        kind="secondary"
                        busy={busy === `rotate-${k.keyId}`}
                        onClick={() =>
                          void run(`rotate-${k.keyId}`, () => api('POST', `/api/apps/${appId}/keys/${k.keyId}/rotate`, {}))
                        }
                      >
                        Rotate
                      </Button>
                      <Button
                        kind="danger"
                        busy={busy === `revoke-${k.keyId}`}
                        onClick={() => void run(`revoke-${k.keyId}`, () => api('DELETE', `/api/apps/${appId}/keys/${k.keyId}`))}
                      >
                        Revoke
                      </Button>
                    </span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function ParticipantsTab({ appId }: { appId: string }) {
  const list = useAsync(
    () => api<{ participants: { address: string; role: string }[] }>('GET', `/api/apps/${appId}/participants`),
    [appId],
  );
  const [draft, setDraft] = useDraft(`participant:${appId}`, { address: '', role: 'member' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api('POST', `/api/apps/${appId}/participants`, draft);
      setDraft({ address: '', role: 'member' });
      list.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <h2>Participants</h2>
      <p>Participants are the accounts of an app with the “participants only” policy; their roles are on the system ledger.</p>
      <form onSubmit={submit} className="row">
        <Field
          label="Account address"
          mono
          value={draft.address}
          onChange={(address) => setDraft({ ...draft, address })}
          placeholder="0x…"
        />
        <Field label="Role" value={draft.role} onChange={(role) => setDraft({ ...draft, role })} />
        <Button type="submit" busy={busy}>
          Add participant
        </Button>
      </form>
      <ErrorBox error={error ?? list.error} />
      {list.data && list.data.participants.length === 0 && <p>No participants yet.</p>}
      {list.data && list.data.participants.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Address</th>
              <th scope="col">Role</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.data.participants.map((p) => (
              <tr key={p.address}>
                <td>
                  <code>{p.address}</code>
                </td>
                <td>{p.role}</td>
                <td>
                  <Button
                    kind="danger"
                    onClick={() =>
                      void api('DELETE', `/api/apps/${appId}/participants/${p.address}`).then(list.reload, (err: unknown) =>
                        setError(err),
                      )
                    }
                  >
                    Remove
                  </Button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
