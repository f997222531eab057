// What the clients that run inside the real node's namespace (client.ts, stream-client.ts) share:
// the admin API with the cluster's admin token, and an SDK fetch that reports which gates
// dispatch named.
import type { ImClientOptions } from '../../sdk/src/index.js';

/** The admin API at `adminUrl` as the platform admin; a 409 (the app exists already) is no error. */
export function adminApi(adminUrl: string, adminToken: string) {
  return async (method: string, path: string, body?: unknown): Promise<any> => {
    const res = await fetch(`${adminUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json().catch(() => ({}));
    if (!res.ok && res.status !== 409) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
}

/** The SDK's fetch, calling `named` with the gate WebSocket URLs of every dispatch answer. */
export function dispatchWatchingFetch(named: (gates: string[]) => void): NonNullable<ImClientOptions['fetch']> {
  return async (url, init) => {
    const res = await fetch(url, init);
    if (url.pathname.endsWith('/v1/dispatch')) {
      const answer = (await res
        .clone()
        .json()
        .catch(() => null)) as { gates?: Array<{ ws: string }> } | null;
      named((answer?.gates ?? []).map((g) => g.ws));
    }
    return res;
  };
}
