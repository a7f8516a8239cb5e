/**
 * The page frame: a skip link, the header with the navigation for the user's kind, and the page
 * the path asks for. Signed-out visitors see sign-in and sign-up only.
 */
import { useEffect } from 'react';
import { Loading } from './components/ui.js';
import { AdminPage } from './pages/Admin.js';
import { AppPage } from './pages/AppPage.js';
import { AppsPage } from './pages/Apps.js';
import { SignInPage, SignUpPage } from './pages/Auth.js';
import { NewAppPage } from './pages/NewApp.js';
import { OperatorPage } from './pages/Operator.js';
import { RegulatorPage } from './pages/Regulator.js';
import { AcceptInvitationPage, TeamPage } from './pages/Team.js';
import { Link, match, navigate, useRoute } from './router.js';
import { useSession } from './session.js';

const NAV: Record<string, { to: string; title: string }[]> = {
  developer: [
    { to: '/apps', title: 'Apps' },
    { to: '/apps/new', title: 'New app' },
    { to: '/team', title: 'Team' },
  ],
  operator: [{ to: '/operator', title: 'Node' }],
  admin: [
    { to: '/admin', title: 'Governance' },
    { to: '/operator', title: 'Nodes' },
  ],
  regulator: [{ to: '/regulator', title: 'Oversight' }],
};

const HOME: Record<string, string> = { developer: '/apps', operator: '/operator', admin: '/admin', regulator: '/regulator' };

function Page() {
  const { path } = useRoute();
  const { me, loading } = useSession();
  const publicPage = path === '/signin' || path === '/signup';
  useEffect(() => {
    if (loading) return;
    if (!me && !publicPage) navigate(`/signin?next=${encodeURIComponent(path)}`, true);
    if (me && (path === '/' || publicPage)) navigate(HOME[me.user.kind] ?? '/apps', true);
  }, [me, loading, path, publicPage]);
  if (loading) return <Loading what="your session" />;
  if (path === '/signin') return <SignInPage />;
  if (path === '/signup') return <SignUpPage />;
  if (!me) return null;
  if (path === '/apps') return <AppsPage />;
  if (path === '/apps/new') return <NewAppPage />;
  if (path === '/team') return <TeamPage />;
  const invite = match('/invite/:token', path);
  if (invite) return <AcceptInvitationPage token={invite.token as string} />;
  const appMatch = match('/apps/:id/:tab?', path);
  if (appMatch) return <AppPage appId={appMatch.id as string} tab={appMatch.tab ?? 'overview'} />;
  if (path.startsWith('/admin')) return <AdminPage />;
  if (path.startsWith('/operator')) return <OperatorPage />;
  if (path.startsWith('/regulator')) return <RegulatorPage />;
  return (
    <section>
      <h1>Not found</h1>
      <p>
        There is no page at {path}. <Link to="/">Go to your start page</Link>.
      </p>
    </section>
  );
}

/** The portal. */
export function App() {
  const { me, signOut } = useSession();
  const { path } = useRoute();
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link to="/" className="brand">
          Polis
        </Link>
        {me && (
          <nav aria-label="Main">
            <ul>
              {(NAV[me.user.kind] ?? []).map((n) => (
                <li key={n.to}>
                  <Link to={n.to} aria-current={path === n.to ? 'page' : undefined}>
                    {n.title}
                  </Link>
                </li>
              ))}
            </ul>
          </nav>
        )}
        {me && (
          <div className="who">
            <span>
              {me.user.name} <span className="kind">({me.user.kind})</span>
            </span>
            <button type="button" className="btn secondary small" onClick={() => void signOut()}>
              Sign out
            </button>
          </div>
        )}
      </header>
      <main id="main" tabIndex={-1}>
        <Page />
      </main>
    </>
  );
}
