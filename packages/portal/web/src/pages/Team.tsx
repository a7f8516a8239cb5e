/**
 * The team: the members of the user's organisations with their roles, invitations (a link to pass
 * on) and accepting an invitation.
 */
import { type FormEvent, useState } from 'react';
import { api, type Org } from '../api.js';
import { Button, Copyable, ErrorBox, Field, Loading, useAsync } from '../components/ui.js';
import { navigate } from '../router.js';
import { useSession } from '../session.js';

type Member = { userId: string; email: string; name: string; role: 'owner' | 'admin' | 'member'; joinedAt: number };

/** The team page. */
export function TeamPage() {
  const { me } = useSession();
  const orgs = me?.orgs ?? [];
  return (
    <section>
      <h1>Team</h1>
      {orgs.map((o) => (
        <OrgMembers key={o.id} org={o} />
      ))}
    </section>
  );
}

function OrgMembers({ org }: { org: Org }) {
  const { me } = useSession();
  const list = useAsync(() => api<{ role: string; members: Member[] }>('GET', `/api/orgs/${org.id}/members`), [org.id]);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Member['role']>('member');
  const [link, setLink] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const canManage = org.role === 'owner' || org.role === 'admin';
  const act = async (call: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await call();
      list.reload();
    } catch (err) {
      setError(err);
    }
  };
  const invite = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const { path } = await api<{ path: string }>('POST', `/api/orgs/${org.id}/invitations`, { email, role });
      setLink(`${window.location.origin}${path}`);
      setEmail('');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <h2>
        {org.name} <span className="kind">(you are {org.role})</span>
      </h2>
      {list.loading && !list.data && <Loading what="the members" />}
      <ErrorBox error={error ?? list.error} />
      {list.data && (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              {canManage && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {list.data.members.map((m) => (
              <tr key={m.userId}>
                <td>{m.name}</td>
                <td>{m.email}</td>
                <td>
                  {canManage && m.userId !== me?.user.id ? (
                    <select
                      aria-label={`Role of ${m.name}`}
                      value={m.role}
                      onChange={(e) =>
                        void act(() => api('POST', `/api/orgs/${org.id}/members/${m.userId}/role`, { role: e.target.value }))
                      }
                    >
                      <option value="owner">owner</option>
                      <option value="admin">admin</option>
                      <option value="member">member</option>
                    </select>
                  ) : (
                    m.role
                  )}
                </td>
                {canManage && (
                  <td>
                    {m.userId !== me?.user.id && (
                      <Button
                        kind="danger"
                        onClick={() => void act(() => api('DELETE', `/api/orgs/${org.id}/members/${m.userId}`))}
                      >
                        Remove
                      </Button>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {canManage && (
        <form onSubmit={invite} className="row" aria-label={`Invite to ${org.name}`}>
          <Field label="Email to invite" type="email" value={email} onChange={setEmail} />
          <div className="field">
            <label htmlFor={`role-${org.id}`}>Role</label>
            <select id={`role-${org.id}`} value={role} onChange={(e) => setRole(e.target.value as Member['role'])}>
              <option value="member">member</option>
              <option value="admin">admin</option>
              {org.role === 'owner' && <option value="owner">owner</option>}
            </select>
          </div>
          <Button type="submit" busy={busy}>
            Invite
          </Button>
        </form>
      )}
      {link && (
        <div className="notice" role="status">
          <p>Send this link to the person you invited; it works once, for 7 days, when they sign in with that email:</p>
          <Copyable text={link} label="invitation link" testId="invitation-link" />
        </div>
      )}
    </>
  );
}

/** Opening an invitation link. */
export function AcceptInvitationPage({ token }: { token: string }) {
  const { setMe, me } = useSession();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  return (
    <section className="narrow">
      <h1>Join an organisation</h1>
      <p>You are signed in as {me?.user.email}. The invitation must be for this email.</p>
      <ErrorBox error={error} />
      <Button
        busy={busy}
        onClick={async () => {
          setBusy(true);
          try {
            const { orgs } = await api<{ orgs: Org[] }>('POST', '/api/invitations/accept', { token });
            if (me) setMe({ ...me, orgs });
            navigate('/team');
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        Accept the invitation
      </Button>
    </section>
  );
}
