// A small Kubernetes REST client over node:https. @kubernetes/client-node loads the
// configuration (KUBECONFIG, ~/.kube/config or in-cluster service account) and supplies the
// credentials; requests, streaming watches and server-side apply are done here so that every
// content type, query parameter and status code is under our control.

import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent, request as httpsRequest, type RequestOptions } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

export interface Resource {
  group: string; // '' for core
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

const res = (group: string, version: string, plural: string, kind: string, namespaced = true): Resource => ({
  group,
  version,
  plural,
  kind,
  namespaced,
});

export const R = {
  imclusters: res('imcloud.dev', 'v1alpha1', 'imclusters', 'ImCluster'),
  deployments: res('apps', 'v1', 'deployments', 'Deployment'),
  statefulsets: res('apps', 'v1', 'statefulsets', 'StatefulSet'),
  services: res('', 'v1', 'services', 'Service'),
  configmaps: res('', 'v1', 'configmaps', 'ConfigMap'),
  secrets: res('', 'v1', 'secrets', 'Secret'),
  pods: res('', 'v1', 'pods', 'Pod'),
  pvcs: res('', 'v1', 'persistentvolumeclaims', 'PersistentVolumeClaim'),
  events: res('', 'v1', 'events', 'Event'),
  pdbs: res('policy', 'v1', 'poddisruptionbudgets', 'PodDisruptionBudget'),
  hpas: res('autoscaling', 'v2', 'horizontalpodautoscalers', 'HorizontalPodAutoscaler'),
  /** The resource metrics API (metrics-server): CPU of the file role's pods, for its autoscaling. */
  podmetrics: res('metrics.k8s.io', 'v1beta1', 'pods', 'PodMetrics'),
  leases: res('coordination.k8s.io', 'v1', 'leases', 'Lease'),
  servicemonitors: res('monitoring.coreos.com', 'v1', 'servicemonitors', 'ServiceMonitor'),
  crds: res('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', 'CustomResourceDefinition', false),
} as const;

export function apiVersionOf(r: Resource): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }>;
    deletionTimestamp?: string;
    creationTimestamp?: string;
    finalizers?: string[];
    managedFields?: Array<{ manager?: string; operation?: string; subresource?: string; fieldsV1?: Record<string, unknown> }>;
  };
  [key: string]: unknown;
}

export interface WatchEvent<T = KubeObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/** An apiserver answer other than 2xx (status: HTTP status; reason: metav1.Status reason). */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly body?: unknown,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export const isNotFound = (err: unknown) => err instanceof KubeApiError && err.status === 404;
export const isConflict = (err: unknown) => err instanceof KubeApiError && err.status === 409;
export const isGone = (err: unknown) => err instanceof KubeApiError && err.status === 410;

export function resourcePath(r: Resource, namespace?: string, name?: string, subresource?: string): string {
  let p = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  if (r.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${r.plural}`;
  if (name) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}

export interface RequestOpts {
  body?: unknown;
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

export interface WatchOpts {
  resourceVersion?: string;
  labelSelector?: string;
  fieldSelector?: string;
  timeoutSeconds?: number;
  signal?: AbortSignal;
}

/** The operations the operator needs; the informer and leader election take this interface. */
export interface Kube {
  get<T extends KubeObject>(r: Resource, namespace: string | undefined, name: string): Promise<T | null>;
  list<T extends KubeObject>(
    r: Resource,
    namespace?: string,
    opts?: { labelSelector?: string; fieldSelector?: string },
  ): Promise<ListResult<T>>;
  watch<T extends KubeObject>(
    r: Resource,
    namespace: string | undefined,
    opts: WatchOpts,
    onEvent: (e: WatchEvent<T>) => void,
  ): Promise<void>;
}

export class KubeClient implements Kube {
  private readonly agent: Agent | HttpAgent;
  readonly server: URL;

  private constructor(
    readonly config: KubeConfig,
    tls: Pick<RequestOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'>,
  ) {
    const cluster = config.getCurrentCluster();
    if (!cluster) throw new Error('kubernetes: no current cluster in the configuration');
    this.server = new URL(cluster.server);
    this.agent =
      this.server.protocol === 'https:'
        ? new Agent({ keepAlive: true, maxSockets: 64, ...tls })
        : new HttpAgent({ keepAlive: true, maxSockets: 64 });
  }

  /** KUBECONFIG (or `kubeconfigPath`), ~/.kube/config, or the in-cluster service account. */
  static async load(kubeconfigPath?: string): Promise<KubeClient> {
    const config = new KubeConfig();
    if (kubeconfigPath) config.loadFromFile(kubeconfigPath);
    else config.loadFromDefault();
    const cluster = config.getCurrentCluster();
    if (!cluster || (!kubeconfigPath && cluster.name === 'cluster' && cluster.server === 'http://localhost:8080')) {
      throw new Error(
        'kubernetes: no configuration found: set KUBECONFIG (or operator.kubeconfig), create ~/.kube/config, or run in a pod with a service account',
      );
    }
    const probe: RequestOptions = {};
    try {
      await config.applyToHTTPSOptions(probe);
    } catch (err) {
      throw new Error(`kubernetes: cannot use the configuration for ${cluster.server}: ${(err as Error).message}`);
    }
    return new KubeClient(config, {
      ca: probe.ca,
      cert: probe.cert,
      key: probe.key,
      rejectUnauthorized: probe.rejectUnauthorized,
      servername: probe.servername,
    });
  }

  /** Fresh credentials headers (tokens can rotate: in-cluster tokens, exec plugins). */
  private async authHeaders(): Promise<Record<string, string>> {
    const opts: RequestOptions = { headers: {} };
    await this.config.applyToHTTPSOptions(opts);
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) if (typeof v === 'string') out[k] = v;
    if (opts.auth) out.Authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    return out;
  }

  private url(path: string, query?: RequestOpts['query']): URL {
    const url = new URL(path, this.server);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  private async open(method: string, path: string, opts: RequestOpts): Promise<import('node:http').IncomingMessage> {
    const url = this.url(path, opts.query);
    const headers: Record<string, string> = { accept: 'application/json', ...(await this.authHeaders()) };
    let payload: string | undefined;
    if (opts.body !== undefined) {
      payload = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      headers['content-type'] = opts.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const doRequest = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = doRequest(url, { method, headers, agent: this.agent, signal: opts.signal }, resolve);
      if (opts.timeoutMs)
        req.setTimeout(opts.timeoutMs, () =>
          req.destroy(new Error(`kubernetes: ${method} ${url.pathname} timed out after ${opts.timeoutMs} ms`)),
        );
      req.on('error', reject);
      req.end(payload);
    });
  }

  async request<T = unknown>(method: string, path: string, opts: RequestOpts = {}): Promise<T> {
    const res = await this.open(method, path, { timeoutMs: 30_000, ...opts });
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw toApiError(status, text, `${method} ${path}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  async get<T extends KubeObject>(r: Resource, namespace: string | undefined, name: string): Promise<T | null> {
    try {
      return await this.request<T>('GET', resourcePath(r, namespace, name));
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async list<T extends KubeObject>(
    r: Resource,
    namespace?: string,
    opts: { labelSelector?: string; fieldSelector?: string } = {},
  ): Promise<ListResult<T>> {
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.request<{ items: T[]; metadata: { resourceVersion: string; continue?: string } }>(
        'GET',
        resourcePath(r, namespace),
        {
          query: { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, limit: 500, continue: cont },
        },
      );
      for (const item of page.items) {
        // List items carry no apiVersion/kind; add them so that objects look the same everywhere.
        item.apiVersion ??= apiVersionOf(r);
        item.kind ??= r.kind;
        items.push(item);
      }
      resourceVersion = page.metadata.resourceVersion;
      cont = page.metadata.continue || undefined;
    } while (cont);
    return { items, resourceVersion };
  }

  /**
   * Streams watch events until the server ends the watch (timeoutSeconds), the signal aborts,
   * or the connection fails (rejects). An HTTP 410 rejects with a KubeApiError (status 410); an
   * in-stream ERROR event is passed to onEvent for the caller to judge.
   */
  async watch<T extends KubeObject>(
    r: Resource,
    namespace: string | undefined,
    opts: WatchOpts,
    onEvent: (e: WatchEvent<T>) => void,
  ): Promise<void> {
    const res = await this.open('GET', resourcePath(r, namespace), {
      query: {
        watch: 1,
        allowWatchBookmarks: true,
        resourceVersion: opts.resourceVersion,
        labelSelector: opts.labelSelector,
        fieldSelector: opts.fieldSelector,
        timeoutSeconds: opts.timeoutSeconds,
      },
      signal: opts.signal,
    });
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      throw toApiError(status, Buffer.concat(chunks).toString('utf8'), `WATCH ${r.plural}`);
    }
    let buffered = '';
    try {
      for await (const chunk of res) {
        buffered += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line) onEvent(JSON.parse(line) as WatchEvent<T>);
        }
      }
    } catch (err) {
      if (opts.signal?.aborted) return;
      throw err;
    }
  }

  create<T extends KubeObject>(r: Resource, obj: KubeObject): Promise<T> {
    return this.request<T>('POST', resourcePath(r, obj.metadata.namespace), { body: obj });
  }

  /** PUT with the object's resourceVersion: optimistic concurrency (409 on conflict). */
  replace<T extends KubeObject>(r: Resource, obj: KubeObject, subresource?: string): Promise<T> {
    return this.request<T>('PUT', resourcePath(r, obj.metadata.namespace, obj.metadata.name, subresource), { body: obj });
  }

  /**
   * Server-side apply: the object is the complete intent of `fieldManager` for the fields it
   * names; fields it applied before and omits now are released (and removed if nobody else
   * owns them).
   */
  apply<T extends KubeObject>(
    r: Resource,
    obj: KubeObject,
    opts: { fieldManager: string; force?: boolean; subresource?: string; dryRun?: boolean },
  ): Promise<T> {
    return this.request<T>('PATCH', resourcePath(r, obj.metadata.namespace, obj.metadata.name, opts.subresource), {
      body: obj,
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager: opts.fieldManager, force: opts.force ?? true, dryRun: opts.dryRun ? 'All' : undefined },
    });
  }

  patch<T extends KubeObject>(
    r: Resource,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    opts: { type?: 'merge' | 'json' | 'strategic'; fieldManager?: string; subresource?: string } = {},
  ): Promise<T> {
    const contentType = {
      merge: 'application/merge-patch+json',
      json: 'application/json-patch+json',
      strategic: 'application/strategic-merge-patch+json',
    }[opts.type ?? 'merge'];
    return this.request<T>('PATCH', resourcePath(r, namespace, name, opts.subresource), {
      body: patch,
      contentType,
      query: { fieldManager: opts.fieldManager },
    });
  }

  /** Deletes; a missing object is not an error. Returns false when it was already gone. */
  async delete(
    r: Resource,
    namespace: string | undefined,
    name: string,
    opts: { propagationPolicy?: 'Foreground' | 'Background' | 'Orphan'; uid?: string } = {},
  ): Promise<boolean> {
    try {
      await this.request('DELETE', resourcePath(r, namespace, name), {
        body: {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          propagationPolicy: opts.propagationPolicy ?? 'Background',
          ...(opts.uid ? { preconditions: { uid: opts.uid } } : {}),
        },
      });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** True when the apiserver serves `group/version` `plural` (e.g. ServiceMonitor). */
  async serves(group: string, version: string, plural: string): Promise<boolean> {
    try {
      const list = await this.request<{ resources: Array<{ name: string }> }>('GET', `/apis/${group}/${version}`);
      return list.resources.some((x) => x.name === plural);
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  close(): void {
    this.agent.destroy();
  }
}

function toApiError(status: number, text: string, what: string): KubeApiError {
  let reason = '';
  let message = text.slice(0, 500);
  let body: unknown;
  try {
    body = JSON.parse(text);
    const s = body as { reason?: string; message?: string };
    reason = s.reason ?? '';
    message = s.message ?? message;
  } catch {
    // not JSON
  }
  return new KubeApiError(status, reason, `${what}: HTTP ${status}${reason ? ` ${reason}` : ''}: ${message}`, body);
}
