/** The developer's apps. */
import { api } from '../api.js';
import { ErrorBox, Loading, useAsync } from '../components/ui.js';
import { Link } from '../router.js';

/** An app as the API lists it. */
export type AppSummary = {
  appId: string;
  name: string;
  plan: string;
  chainId: number;
  status: string;
  keyMode: string;
  accessPolicy: string;
  validators: string[];
  createdAt: number;
};

/** The list of apps. */
export function AppsPage() {
  const { data, error, loading } = useAsync(() => api<{ apps: AppSummary[] }>('GET', '/api/apps'), []);
  return (
    <section>
      <div className="row spread">
        <h1>Your apps</h1>
        <Link className="btn primary" to="/apps/new">
          New app
        </Link>
      </div>
      {loading && !data && <Loading what="your apps" />}
      <ErrorBox error={error} />
      {data && data.apps.length === 0 && (
        <p>
          You have no apps yet. <Link to="/apps/new">Create one</Link>: it takes a few seconds.
        </p>
      )}
      {data && data.apps.length > 0 && (
        <ul className="cards">
          {data.apps.map((a) => (
            <li key={a.appId} className="card">
              <h2>
                <Link to={`/apps/${a.appId}`}>{a.name}</Link>
              </h2>
              <p>
                <span className={`status ${a.status}`}>{a.status}</span> · {a.plan} plan · chain id {a.chainId} ·{' '}
                {a.validators.length} node
                {a.validators.length === 1 ? '' : 's'}
              </p>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
