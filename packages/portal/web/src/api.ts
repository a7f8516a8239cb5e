/**
 * The front end's client of the portal API. Errors come back as `ApiError` with the server's code,
 * message and hint; a 401 SIGNED_OUT sends the user to sign-in (forms keep their drafts, see
 * `useDraft`) and back here afterwards.
 */

/** An error answer of the API. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

type Listener = () => void;
const signedOutListeners = new Set<Listener>();

/** Calls `listener` when the API says the session is gone. */
export function onSignedOut(listener: Listener): () => void {
  signedOutListeners.add(listener);
  return () => signedOutListeners.delete(listener);
}

/** Calls the API; throws `ApiError` on an error answer, and a plain-words error when the portal is unreachable. */
export async function api<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: body !== undefined ? { 'content-type': 'application/json' } : {},
      body: body !== undefined ? JSON.stringify(body) : null,
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, 'UNREACHABLE', 'the portal does not answer', 'Check your connection, then try again');
  }
  const text = await res.text();
  const json = text ? (JSON.parse(text) as unknown) : undefined;
  if (!res.ok) {
    const e = (json as { error?: { code: string; message: string; hint?: string; details?: unknown } } | undefined)?.error;
    const err = new ApiError(
      res.status,
      e?.code ?? `HTTP_${res.status}`,
      e?.message ?? `the portal answered ${res.status}`,
      e?.hint,
      e?.details,
    );
    if (res.status === 401 && err.code === 'SIGNED_OUT') for (const l of signedOutListeners) l();
    if (res.status === 429) {
      const after = res.headers.get('retry-after');
      if (after) (err as { retryAfterSeconds?: number }).retryAfterSeconds = Number(after);
    }
    throw err;
  }
  return json as T;
}

/** A user of the portal. */
export type User = {
  id: string;
  email: string;
  name: string;
  kind: 'developer' | 'operator' | 'admin' | 'regulator';
  createdAt: number;
};
/** An organisation the user belongs to. */
export type Org = { id: string; name: string; role: 'owner' | 'admin' | 'member'; createdAt: number };
/** What `/api/me` answers. */
export type Me = { user: User; orgs: Org[] };
