/**
 * A small path router over the History API: `useRoute()` gives the current path and query,
 * `navigate()` changes them, and `<Link>` renders a real anchor (so keyboard, middle-click and
 * "copy link" work) that navigates without a reload.
 */
import { type AnchorHTMLAttributes, createContext, type ReactNode, useContext, useEffect, useState } from 'react';

type Route = { path: string; query: URLSearchParams };

const RouteContext = createContext<Route>({ path: '/', query: new URLSearchParams() });

function current(): Route {
  return { path: window.location.pathname, query: new URLSearchParams(window.location.search) };
}

/** Goes to `to` (a path with an optional query). */
export function navigate(to: string, replace = false): void {
  if (replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

/** Provides the current route to the tree. */
export function RouterProvider({ children }: { children: ReactNode }) {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const update = () => setRoute(current());
    window.addEventListener('popstate', update);
    return () => window.removeEventListener('popstate', update);
  }, []);
  return <RouteContext.Provider value={route}>{children}</RouteContext.Provider>;
}

/** The current path and query. */
export function useRoute(): Route {
  return useContext(RouteContext);
}

/** Matches `path` against a pattern like `/apps/:id/:tab?`; returns the parameters or undefined. */
export function match(pattern: string, path: string): Record<string, string> | undefined {
  const want = pattern.split('/').filter(Boolean);
  const got = path.split('/').filter(Boolean);
  const params: Record<string, string> = {};
  for (let i = 0; i < Math.max(want.length, got.length); i++) {
    const w = want[i];
    const g = got[i];
    if (w === undefined) return undefined;
    if (w.startsWith(':')) {
      const optional = w.endsWith('?');
      const name = w.slice(1, optional ? -1 : undefined);
      if (g === undefined) {
        if (optional) continue;
        return undefined;
      }
      params[name] = decodeURIComponent(g);
    } else if (w !== g) return undefined;
  }
  return params;
}

/** An anchor that navigates inside the app. */
export function Link(props: AnchorHTMLAttributes<HTMLAnchorElement> & { to: string }) {
  const { to, onClick, ...rest } = props;
  return (
    <a
      {...rest}
      href={to}
      onClick={(e) => {
        onClick?.(e);
        if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(to);
      }}
    />
  );
}
