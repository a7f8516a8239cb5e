/**
 * The operator view: every node of the network with its status and health (latency, the ledgers
 * it hosts with their heights and mempools, its peers, its uptime), refreshed every few seconds;
 * and the admission flow: the commands that make a new node apply, and the nodes waiting for
 * admission, which admins admit from here or from the admin view.
 */
import { useEffect, useState } from 'react';
import { api } from '../api.js';
import { Copyable, ErrorBox, Field, Loading, useAsync } from '../components/ui.js';
import { Link } from '../router.js';
import { useSession } from '../session.js';
import {
  ActionButton,
  Approvals,
  KeyPanel,
  NodeStatus,
  type NodeView,
  Outcome,
  type Overview,
  short,
  useSigner,
} from './Admin.js';

/** How often the page asks for the nodes' health again. */
const REFRESH_MS = 5_000;

type NodesAnswer = { nodes: NodeView[]; systemUrls: string[]; checkedAt: number };

/** "3 h 12 min", "45 s". */
function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h ${min % 60} min`;
  return `${Math.floor(h / 24)} days`;
}

/** Latency per reachable node as bars; the numbers are written beside each bar and in the table. */
function LatencyChart({ nodes }: { nodes: NodeView[] }) {
  const up = nodes.filter((n) => n.health.ok && n.health.latencyMs !== undefined);
  if (up.length === 0) return null;
  const max = Math.max(50, ...up.map((n) => n.health.latencyMs ?? 0));
  const row = 26;
  const labelWidth = 110;
  const barWidth = 220;
  const summary = up.map((n) => `${n.name} ${n.health.latencyMs} ms`).join(', ');
  return (
    <figure>
      <svg
        role="img"
        aria-labelledby="latency-title"
        viewBox={`0 0 ${labelWidth + barWidth + 70} ${up.length * row + 4}`}
        style={{ width: '100%', maxWidth: 480, height: 'auto' }}
      >
        <title id="latency-title">Health-check latency per node: {summary}</title>
        {up.map((n, i) => {
          const width = Math.max(2, ((n.health.latencyMs ?? 0) / max) * barWidth);
          const y = i * row + 4;
          return (
            <g key={n.publicKey}>
              <text x={0} y={y + 14} fontSize={13} fill="currentColor">
                {n.name}
              </text>
              <rect x={labelWidth} y={y} width={width} height={18} rx={3} fill="#2f6fdf" />
              <text x={labelWidth + width + 6} y={y + 14} fontSize={13} fill="currentColor">
                {n.health.latencyMs} ms
              </text>
            </g>
          );
        })}
      </svg>
      <figcaption className="hint">Time for each node to answer its health check, from the portal.</figcaption>
    </figure>
  );
}

function Ledgers({ node }: { node: NodeView }) {
  const ledgers = node.health.ledgers ?? [];
  if (ledgers.length === 0) return <span className="hint">{node.health.ok ? 'none' : 'unknown'}</span>;
  return (
    <ul className="plain">
      {ledgers.map((l) => (
        <li key={l.id} style={{ margin: 0 }}>
          <strong>{l.id}</strong> at height {l.height}, {l.mempool} waiting
        </li>
      ))}
    </ul>
  );
}

function NodesTable({ nodes }: { nodes: NodeView[] }) {
  return (
    <div className="table-scroll" style={{ overflowX: 'auto' }}>
      <table>
        <caption className="visually-hidden">The network's nodes and their health</caption>
        <thead>
          <tr>
            <th scope="col">Node</th>
            <th scope="col">Region</th>
            <th scope="col">Status</th>
            <th scope="col">Peers</th>
            <th scope="col">Up for</th>
            <th scope="col">Ledgers hosted</th>
            <th scope="col">Gateway</th>
          </tr>
        </thead>
        <tbody>
          {nodes.map((n) => (
            <tr key={n.publicKey} data-testid={`health-${n.name}`}>
              <th scope="row">
                {n.name} <code title={n.publicKey}>{short(n.publicKey)}</code>
              </th>
              <td>{n.region || 'unknown'}</td>
              <td>
                <NodeStatus node={n} />
              </td>
              <td>{n.health.peers ?? '—'}</td>
              <td>{n.uptimeMs !== undefined ? duration(n.uptimeMs) : '—'}</td>
              <td>
                <Ledgers node={n} />
              </td>
              <td>{n.url ? <code>{n.url}</code> : <span className="hint">not known to the portal</span>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The commands a new node's operator runs, filled in from the form. */
function ApplySteps({ systemUrl }: { systemUrl: string }) {
  const [name, setName] = useState('');
  const [region, setRegion] = useState('');
  const [operator, setOperator] = useState('');
  const [dir, setDir] = useState('./my-node');
  const nodeName = name.trim() || 'my-node';
  const folder = dir.trim() || './my-node';
  const quote = (s: string) => (/^[\w./:@-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const init = `polis node init --dir ${quote(folder)} --name ${quote(nodeName)}`;
  const start = `polis node start --config ${quote(`${folder}/config.json`)}`;
  const apply = `polis node apply --config ${quote(`${folder}/config.json`)} --url ${systemUrl} --operator ${operator.trim() || '0xYOUR_ADDRESS'}${
    region.trim() ? ` --region ${quote(region.trim())}` : ''
  }`;
  return (
    <section aria-labelledby="apply-h">
      <h2 id="apply-h">Add a node to the network</h2>
      <p>A node joins in four steps. Fill in the form and the commands below follow it.</p>
      <div className="cards">
        <Field label="Node name" name="apply-name" value={name} onChange={setName} placeholder="my-node" />
        <Field
          label="Region"
          name="apply-region"
          value={region}
          onChange={setRegion}
          placeholder="e.g. eu-west"
          hint="Shown to developers who choose nodes"
        />
        <Field
          label="Your address (operator)"
          name="apply-operator"
          value={operator}
          onChange={setOperator}
          mono
          placeholder="0x…"
          hint="The account that runs the node"
        />
        <Field label="Node directory" name="apply-dir" value={dir} onChange={setDir} mono />
      </div>
      <ol className="apply-steps">
        <li>
          <p>Create the node’s key (encrypted with a password from POLIS_PASSWORD or --password-file) and its configuration:</p>
          <Copyable text={init} label="the init command" />
        </li>
        <li>
          <p>
            Put the network’s genesis.json (any node’s copy) in the node directory, then start the node. It gets no blocks until
            it is admitted.
          </p>
          <Copyable text={start} label="the start command" />
        </li>
        <li>
          <p>Apply for admission: the node signs the request with its own key and sends it to the system ledger.</p>
          <Copyable text={apply} label="the apply command" testId="apply-command" />
        </li>
        <li>
          <p>
            The node then waits for admission in the list below. The alliance’s admins admit it (in the{' '}
            <Link to="/admin">admin view</Link>, or here), as many of them as the threshold asks. Once admitted, its peers let it
            in, it syncs, and it shows as active.
          </p>
        </li>
      </ol>
    </section>
  );
}

/** The operator view. */
export function OperatorPage() {
  const { me } = useSession();
  const isAdmin = me?.user.kind === 'admin';
  const health = useAsync(() => api<NodesAnswer>('GET', '/api/operator/nodes'), []);
  const overview = useAsync(
    () => (isAdmin ? api<Overview>('GET', '/api/admin/overview') : Promise.resolve(undefined)),
    [isAdmin],
  );
  const { reload } = health;
  const reloadAll = () => {
    health.reload();
    overview.reload();
  };
  const signer = useSigner(overview.data?.proposals.open, reloadAll);
  useEffect(() => {
    const timer = setInterval(reload, REFRESH_MS);
    return () => clearInterval(timer);
  }, [reload]);

  const nodes = [...(health.data?.nodes ?? [])].sort((a, b) => a.name.localeCompare(b.name));
  const pending = nodes.filter((n) => n.status === 'pending');
  const open = overview.data?.proposals.open ?? [];
  return (
    <section aria-labelledby="operator-h">
      <h1 id="operator-h">Nodes</h1>
      <p className="hint">
        Refreshed every {REFRESH_MS / 1000} seconds
        {health.data ? `; last checked ${new Date(health.data.checkedAt).toLocaleTimeString()}` : ''}.
      </p>
      {health.loading && !health.data && <Loading what="the nodes’ health" />}
      <ErrorBox error={health.error} />
      {health.data && (
        <>
          <p>
            {nodes.filter((n) => n.status === 'active').length} active, {pending.length} waiting for admission,{' '}
            {nodes.filter((n) => n.status === 'suspended').length} suspended; {nodes.filter((n) => n.health.ok).length} of{' '}
            {nodes.filter((n) => n.url).length} gateways the portal knows answer.
          </p>
          <NodesTable nodes={nodes} />
          <LatencyChart nodes={nodes} />
          <section aria-labelledby="pending-h">
            <h2 id="pending-h">Waiting for admission</h2>
            {pending.length === 0 ? (
              <p>No node is waiting.</p>
            ) : (
              <>
                {isAdmin && <KeyPanel {...(overview.data ? { admins: overview.data.alliance.admins } : {})} />}
                {isAdmin && <Outcome state={signer.state} />}
                <ul className="cards">
                  {pending.map((n) => (
                    <li key={n.publicKey} className="card" data-testid={`pending-node-${n.name}`}>
                      <h3>{n.name}</h3>
                      <p>
                        Region {n.region || 'unknown'} · operator <code title={n.operator}>{short(n.operator)}</code> · applied at
                        system height {n.since}
                      </p>
                      <p className="mono" title="Node key">
                        {n.publicKey}
                      </p>
                      {isAdmin ? (
                        <p>
                          <Approvals open={open} action={{ type: 'admitNode', publicKey: n.publicKey as `0x${string}` }} />{' '}
                          <ActionButton
                            signer={signer}
                            open={open}
                            action={{ type: 'admitNode', publicKey: n.publicKey as `0x${string}` }}
                            label={`Admit node ${n.name}`}
                            text="Admit"
                            kind="primary"
                          />
                        </p>
                      ) : (
                        <p className="hint">An admin of the alliance admits it.</p>
                      )}
                    </li>
                  ))}
                </ul>
              </>
            )}
          </section>
          <ApplySteps systemUrl={health.data.systemUrls[0] ?? 'http://<node>:8545/v1/system'} />
        </>
      )}
    </section>
  );
}
