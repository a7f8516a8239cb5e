/**
 * The signed-in user, for the whole page: loaded from `/api/me`, cleared when the API says the
 * session is gone (the user is sent to sign-in with a link back to where they were).
 */
import { createContext, type ReactNode, useCallback, useContext, useEffect, useState } from 'react';
import { api, type Me, onSignedOut } from './api.js';
import { navigate } from './router.js';

type Session = { me?: Me; loading: boolean; setMe: (me: Me | undefined) => void; signOut: () => Promise<void> };

const SessionContext = createContext<Session>({ loading: true, setMe: () => {}, signOut: async () => {} });

/** Provides the session. */
export function SessionProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | undefined>();
  const [loading, setLoading] = useState(true);
  useEffect(() => {
    api<Me>('GET', '/api/me').then(
      (m) => {
        setMe(m);
        setLoading(false);
      },
      // Signed out (401) or the portal unreachable: either way the sign-in page shows, and its
      // own request says what is wrong.
      () => setLoading(false),
    );
    return onSignedOut(() => {
      setMe(undefined);
      const here = window.location.pathname + window.location.search;
      if (!here.startsWith('/signin')) navigate(`/signin?next=${encodeURIComponent(here)}&expired=1`);
    });
  }, []);
  const signOut = useCallback(async () => {
    await api('POST', '/api/auth/signout', {}).catch(() => undefined);
    setMe(undefined);
    navigate('/signin');
  }, []);
  return <SessionContext.Provider value={{ me, loading, setMe, signOut }}>{children}</SessionContext.Provider>;
}

/** The session. */
export function useSession(): Session {
  return useContext(SessionContext);
}
