/**
 * What the portal's backend tests share: a browser-like API client that keeps the session cookie,
 * and a node with a system ledger governed by three admins (two approve), apps approved at once.
 */
import { type DevNode, startDevNode } from '../../node/test/devNode.js';

/** An answer of the portal's API: the JSON body (`{}` for other content), the raw text and the headers. */
export type Answer<T> = {
  status: number;
  headers: Headers;
  text: string;
  body: T & { error?: { code: string; message: string; hint?: string; details?: unknown } };
};

/** A client of the portal at `base` that keeps its session cookie, as a browser does; `cookie()` reads it. */
export function portalClient(base: string) {
  let cookie = '';
  const call = async <T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Answer<T>> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(cookie ? { cookie } : {}),
        ...headers,
      },
      body: body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const set = res.headers.get('set-cookie');
    if (set) cookie = set.split(';')[0] as string;
    const text = await res.text();
    const json = res.headers.get('content-type')?.startsWith('application/json') && text ? JSON.parse(text) : {};
    return { status: res.status, headers: res.headers, text, body: json as Answer<T>['body'] };
  };
  return Object.assign(call, { cookie: () => cookie });
}

/** Three admin addresses (nobody holds their keys unless a test makes its own). */
export const TEST_ADMINS = [0, 1, 2].map((i) => ({ address: `0x${String(i + 1).repeat(40)}` }));

/** A node whose system ledger has `admins` (2 of them approve) and approves app requests at once. */
export function startGovernedNode(options: {
  chainId: number;
  heartbeatMs: number;
  admins?: readonly { address: string }[];
  plans?: Record<string, { requestsPerSec: number; txPerSec: number; bytesInPerSec: number; bytesOutPerSec: number }>;
}): Promise<DevNode> {
  const admins = options.admins ?? TEST_ADMINS;
  return startDevNode({
    heartbeatMs: options.heartbeatMs,
    system: {
      chainId: options.chainId,
      admins: admins.map((a) => a.address),
      threshold: 2,
      operator: admins[0]?.address as string,
      autoApproveApps: true,
      ...(options.plans ? { plans: options.plans } : {}),
    },
  });
}
