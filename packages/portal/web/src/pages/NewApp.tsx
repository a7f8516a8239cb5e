/**
 * Creating an app: pick the city nodes (region and health shown), the plan, the key mode and the
 * access policy. The new app's API key is shown once, with its endpoints ready to copy.
 */
import { type FormEvent, useState } from 'react';
import { api } from '../api.js';
import { Button, Copyable, ErrorBox, Field, Loading, useAsync, useDraft } from '../components/ui.js';
import { Link } from '../router.js';

type NodeView = {
  publicKey: string;
  name: string;
  region: string;
  status: string;
  url?: string;
  health: { ok: boolean; latencyMs?: number; peers?: number; ledgers?: { id: string; height: number }[] };
};
type Plan = { name: string; limits: { requestsPerSec: number; txPerSec: number } };
type Endpoint = { node: string; region: string; rpcUrl: string; wsUrl: string; restUrl: string };
type Created = { app: { appId: string; chainId: number; status: string }; apiKey: string; endpoints: Endpoint[] };

type Draft = { id: string; validators: string[]; plan: string; keyMode: 'upload' | 'trust'; accessPolicy: 'open' | 'allowlist' };

/** The new-app page. */
export function NewAppPage() {
  const nodes = useAsync(() => api<{ nodes: NodeView[] }>('GET', '/api/nodes'), []);
  const plans = useAsync(() => api<{ plans: Plan[] }>('GET', '/api/plans'), []);
  const [draft, setDraft, clearDraft] = useDraft<Draft>('new-app', {
    id: '',
    validators: [],
    plan: 'standard',
    keyMode: 'upload',
    accessPolicy: 'open',
  });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [created, setCreated] = useState<Created>();
  const active = (nodes.data?.nodes ?? []).filter((n) => n.status === 'active');

  const toggle = (key: string) =>
    setDraft({
      ...draft,
      validators: draft.validators.includes(key) ? draft.validators.filter((k) => k !== key) : [...draft.validators, key],
    });

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const result = await api<Created>('POST', '/api/apps', draft);
      clearDraft();
      setCreated(result);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  if (created) {
    return (
      <section>
        <h1>
          Your app “{created.app.appId}” is {created.app.status === 'active' ? 'ready' : 'waiting for approval'}
        </h1>
        {created.app.status !== 'active' && (
          <p>The alliance approves new apps on this network. Its ledger starts as soon as they do.</p>
        )}
        <h2>API key</h2>
        <p className="notice">This is the only time the key is shown. Copy it now; you can create more keys later.</p>
        <Copyable text={created.apiKey} label="API key" testId="api-key" />
        <h2>Endpoints</h2>
        <p>Chain id {created.app.chainId}. The key is part of each URL, so any Ethereum tool can use it as it is.</p>
        <ul className="plain">
          {created.endpoints.map((ep) => (
            <li key={ep.rpcUrl}>
              <strong>
                {ep.node}
                {ep.region ? ` (${ep.region})` : ''}
              </strong>
              <Copyable text={ep.rpcUrl} label={`JSON-RPC endpoint at ${ep.node}`} testId="endpoint" />
            </li>
          ))}
        </ul>
        <p>
          <Link className="btn primary" to={`/apps/${created.app.appId}`}>
            Open the app
          </Link>
        </p>
      </section>
    );
  }

  return (
    <section>
      <h1>Create an app</h1>
      <form onSubmit={submit} noValidate>
        <Field
          label="App id"
          name="id"
          value={draft.id}
          onChange={(id) => setDraft({ ...draft, id: id.toLowerCase() })}
          hint="Lower-case letters, digits and dashes, e.g. land-registry. It is part of every endpoint."
          required
        />
        <fieldset>
          <legend>City nodes that run its ledger</legend>
          <p className="hint">
            Pick 4 for a ledger that keeps going when one node fails (BFT needs 3f+1 nodes to survive f failures).
          </p>
          {nodes.loading && !nodes.data && <Loading what="the network's nodes" />}
          <ErrorBox error={nodes.error} />
          {active.length > 0 && (
            <table className="nodes">
              <caption className="visually-hidden">Active city nodes</caption>
              <thead>
                <tr>
                  <th scope="col">Use</th>
                  <th scope="col">Node</th>
                  <th scope="col">Region</th>
                  <th scope="col">Health</th>
                </tr>
              </thead>
              <tbody>
                {active.map((n) => (
                  <tr key={n.publicKey}>
                    <td>
                      <input
                        type="checkbox"
                        id={`node-${n.publicKey}`}
                        checked={draft.validators.includes(n.publicKey)}
                        onChange={() => toggle(n.publicKey)}
                        aria-label={`Run the ledger on ${n.name}`}
                      />
                    </td>
                    <td>
                      <label htmlFor={`node-${n.publicKey}`}>{n.name}</label>
                    </td>
                    <td>{n.region || 'unknown'}</td>
                    <td>
                      <span className={`health ${n.health.ok ? 'ok' : 'down'}`}>
                        {n.health.ok ? `up, ${n.health.latencyMs ?? '?'} ms` : 'not reachable'}
                      </span>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <p>
            <button
              type="button"
              className="btn secondary small"
              onClick={() => setDraft({ ...draft, validators: active.map((n) => n.publicKey) })}
            >
              Use all {active.length}
            </button>
          </p>
        </fieldset>
        <div className="field">
          <label htmlFor="plan">Plan</label>
          <select id="plan" value={draft.plan} onChange={(e) => setDraft({ ...draft, plan: e.target.value })}>
            {(plans.data?.plans ?? [{ name: draft.plan, limits: { requestsPerSec: 0, txPerSec: 0 } }]).map((p) => (
              <option key={p.name} value={p.name}>
                {p.name}
                {p.limits.requestsPerSec ? ` (${p.limits.requestsPerSec} requests/s, ${p.limits.txPerSec} transactions/s)` : ''}
              </option>
            ))}
          </select>
        </div>
        <fieldset>
          <legend>Keys</legend>
          <label>
            <input
              type="radio"
              name="keyMode"
              checked={draft.keyMode === 'upload'}
              onChange={() => setDraft({ ...draft, keyMode: 'upload' })}
            />{' '}
            Clients sign their own transactions (ethers, viem, Foundry)
          </label>
          <label>
            <input
              type="radio"
              name="keyMode"
              checked={draft.keyMode === 'trust'}
              onChange={() => setDraft({ ...draft, keyMode: 'trust' })}
            />{' '}
            The gateway keeps participants' keys and signs for them
          </label>
        </fieldset>
        <fieldset>
          <legend>Who may transact</legend>
          <label>
            <input
              type="radio"
              name="accessPolicy"
              checked={draft.accessPolicy === 'open'}
              onChange={() => setDraft({ ...draft, accessPolicy: 'open' })}
            />{' '}
            Anyone with an API key
          </label>
          <label>
            <input
              type="radio"
              name="accessPolicy"
              checked={draft.accessPolicy === 'allowlist'}
              onChange={() => setDraft({ ...draft, accessPolicy: 'allowlist' })}
            />{' '}
            Only the participants you add
          </label>
        </fieldset>
        <ErrorBox error={error} />
        <Button type="submit" busy={busy} disabled={draft.validators.length === 0 || draft.id === ''}>
          {busy ? 'Creating the app on the system ledger…' : 'Create app'}
        </Button>
      </form>
    </section>
  );
}
