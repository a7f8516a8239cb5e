/**
 * Sign-in and sign-up. After sign-in the user goes back where they were (`?next=`), with any
 * form they were filling still there (drafts live in sessionStorage).
 */
import { type FormEvent, useState } from 'react';
import { api, type Me } from '../api.js';
import { Button, ErrorBox, Field } from '../components/ui.js';
import { Link, navigate, useRoute } from '../router.js';
import { useSession } from '../session.js';

function safeNext(next: string | null): string | undefined {
  // Only paths of this site: never an absolute URL (an open redirect).
  return next?.startsWith('/') && !next.startsWith('//') ? next : undefined;
}

/** The sign-in page. */
export function SignInPage() {
  const { query } = useRoute();
  const { setMe } = useSession();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const me = await api<Me>('POST', '/api/auth/signin', { email, password });
      setMe(me);
      navigate(safeNext(query.get('next')) ?? '/', true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="narrow">
      <h1>Sign in</h1>
      {query.get('expired') && (
        <p className="notice" role="status">
          Your session ended. Sign in again to go on where you were; what you typed is kept.
        </p>
      )}
      <form onSubmit={submit} noValidate>
        <Field label="Email" type="email" name="email" autoComplete="username" value={email} onChange={setEmail} required />
        <Field
          label="Password"
          type="password"
          name="password"
          autoComplete="current-password"
          value={password}
          onChange={setPassword}
          required
        />
        <ErrorBox error={error} />
        <Button type="submit" busy={busy}>
          Sign in
        </Button>
      </form>
      <p>
        New here? <Link to="/signup">Create an account</Link>.
      </p>
    </section>
  );
}

/** The sign-up page. */
export function SignUpPage() {
  const { setMe } = useSession();
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const me = await api<Me>('POST', '/api/auth/signup', { name, email, password });
      setMe(me);
      navigate('/apps/new', true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="narrow">
      <h1>Create your account</h1>
      <p>Then create an app: its own ledger on the city nodes you pick, ready in seconds.</p>
      <form onSubmit={submit} noValidate>
        <Field label="Name" name="name" autoComplete="name" value={name} onChange={setName} required />
        <Field label="Email" type="email" name="email" autoComplete="email" value={email} onChange={setEmail} required />
        <Field
          label="Password"
          type="password"
          name="password"
          autoComplete="new-password"
          value={password}
          onChange={setPassword}
          hint="At least 10 characters"
          required
        />
        <ErrorBox error={error} />
        <Button type="submit" busy={busy}>
          Create account
        </Button>
      </form>
      <p>
        Have an account? <Link to="/signin">Sign in</Link>.
      </p>
    </section>
  );
}
