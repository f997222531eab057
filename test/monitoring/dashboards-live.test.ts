// The chart's dashboards and rules against a live Prometheus (issue: monitoring). The
// multi-process layout on real servers (2 gates, logic, consumer, dispatch, admin, file) and an
// operator reconciling an ImCluster on a real control plane run a short mixed load: single and
// group chat, files (a wrong proof too), a rate-limited app, refused sends, and a kill -9 of one
// gate. Prometheus scrapes every role, the operator and the servers' exporters. Then EVERY query
// of EVERY panel of EVERY dashboard, with its AppId variable set to all and to one app, must
// return at least one series, and every rule expression must evaluate without error.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { imcloud } from '../../protocol/gen/im.js';
import { envName } from '../../services/shared/config.js';
import { connectPrometheus, type PrometheusClient } from '../infra/prometheus.js';
import {
  apply,
  cleanupNamespace,
  dependencySecrets,
  eventually,
  newNamespace,
  startOperator,
  stopAllOperators,
  waitStatus,
} from '../kubernetes/harness.js';
import { type BackendEnv, type Cluster, roleScrapeJobs, startCluster } from '../support/cluster.js';
import { RawClient } from '../support/raw-client.js';
import { testLogDir } from '../support/test-log-dir.js';

const ROOT = join(import.meta.dirname, '..', '..');
const DASHBOARDS = join(ROOT, 'charts', 'imcloud', 'files', 'dashboards');
const RULES = join(ROOT, 'charts', 'imcloud', 'files', 'prometheus-rules.yaml');

const need = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this through the monitoring project (make test-monitoring)`);
  return v;
};

let cluster: Cluster;
let prom: PrometheusClient;
let namespace = '';
/** The app whose every feature ran: the AppId the per-app queries are tried with. */
let appId = '';

beforeAll(async () => {
  prom = connectPrometheus({ url: need('IMCLOUD_PROMETHEUS_URL'), configFile: need('IMCLOUD_PROMETHEUS_CONFIG') });
  const backend: BackendEnv = {
    IMCLOUD_REDIS_URL: need('IMCLOUD_REDIS_URL'),
    IMCLOUD_RABBITMQ_URL: need('IMCLOUD_RABBITMQ_URL'),
    IMCLOUD_MONGODB_URL: need('IMCLOUD_MONGODB_URL'),
    IMCLOUD_MONGODB_DATABASE: `monitoring_${Date.now()}`,
  };
  const minio = Object.fromEntries(
    ['END_POINT', 'PORT', 'ACCESS_KEY', 'SECRET_KEY', 'USE_SSL'].map((k) => [`IMCLOUD_MINIO_${k}`, need(`IMCLOUD_MINIO_${k}`)]),
  );
  cluster = await startCluster(
    backend,
    testLogDir('monitoring'),
    { gate: 2, logic: 1, consumer: 1, dispatch: 1, admin: 1, file: 1 },
    {
      ...minio,
      [envName('minio', 'bucket')]: `monitoring-${Date.now()}`,
    },
  );
  namespace = await newNamespace('monitoring');
  const operator = await startOperator({ namespace });
  await prom.setTargets([
    ...roleScrapeJobs(cluster.processes),
    { job: 'operator', targets: [`127.0.0.1:${operator.port}`], labels: { app_kubernetes_io_component: 'operator' } },
  ]);
  await operatorWork(namespace);
  appId = await load();
  // Enough scrapes after the load for every rate() over it to have two samples.
  await prom.waitForScrapes(3, 60_000);
}, 600_000);

afterAll(async () => {
  if (namespace) await cleanupNamespace(namespace);
  await stopAllOperators();
  await cluster?.stop();
});

interface Query {
  where: string;
  expr: string;
}

/** Every query of every panel (rows' panels too) of every dashboard, with the AppId set to all and to one app. */
function panelQueries(app: string): Query[] {
  const out: Query[] = [];
  for (const file of readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json'))) {
    const dashboard = JSON.parse(readFileSync(join(DASHBOARDS, file), 'utf8')) as { panels: Panel[] };
    const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
    for (const p of panels) {
      for (const t of p.targets ?? []) {
        if (!t.expr) continue;
        const values = t.expr.includes('$app_id') ? ['.*', app] : [''];
        for (const v of values)
          out.push({ where: `${file}: ${p.title}${v ? ` [app_id=${v}]` : ''}`, expr: t.expr.replaceAll('$app_id', v) });
      }
    }
  }
  return out;
}

interface Panel {
  title: string;
  panels?: Panel[];
  targets?: Array<{ expr?: string }>;
}

/** Every rule of the chart's rules file: its alerts and the recordings they read. */
function ruleExpressions(): Array<Query & { alert: boolean }> {
  const doc = parse(readFileSync(RULES, 'utf8')) as {
    groups: Array<{ name: string; rules: Array<{ alert?: string; record?: string; expr: string }> }>;
  };
  return doc.groups.flatMap((g) =>
    g.rules.map((r) => ({ where: `${g.name}: ${r.alert ?? r.record}`, expr: String(r.expr), alert: r.alert !== undefined })),
  );
}

describe('dashboards and rules on a live Prometheus', () => {
  it('every panel query returns data (AppId all and one), and every rule expression evaluates', async () => {
    const queries = panelQueries(appId);
    const empty: string[] = [];
    for (const q of queries) {
      const result = await prom.query(q.expr);
      if (result.length === 0) empty.push(`${q.where}: ${q.expr}`);
    }
    const rules = ruleExpressions();
    const failed: string[] = [];
    for (const r of rules) {
      try {
        await prom.query(r.expr);
      } catch (err) {
        failed.push(`${r.where}: ${String(err)}`);
      }
    }
    const dashboards = readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json')).length;
    const panels = new Set(queries.map((q) => q.where.replace(/ \[app_id=.*\]$/, ''))).size;
    console.log(
      `monitoring: dashboards=${dashboards} panels=${panels} queries=${queries.length} with-data=${queries.length - empty.length} alerts=${rules.filter((r) => r.alert).length}`,
    );
    expect(empty, `queries without data:\n${empty.join('\n')}`).toEqual([]);
    expect(failed, `rules that do not evaluate:\n${failed.join('\n')}`).toEqual([]);
  });
});

/** An ImCluster the operator reconciles (Deployments on the control plane; no pod runs), so its metrics move. */
async function operatorWork(namespace: string): Promise<void> {
  await dependencySecrets(namespace);
  await apply(namespace, {
    apiVersion: 'imcloud.dev/v1alpha1',
    kind: 'ImCluster',
    metadata: { name: 'watched' },
    spec: {
      version: '0.1.0',
      gate: { pools: [{ name: 'main', default: true, replicas: 1 }] },
      dependencies: {
        redis: { secretRef: { name: 'redis-conn' } },
        rabbitmq: { secretRef: { name: 'amqp-conn' } },
        mongodb: { secretRef: { name: 'mongo-conn' } },
      },
    },
  });
  await waitStatus(namespace, 'watched', 'a phase', (imc) => Boolean(imc.status?.phase), 120_000);
}

interface AdminAnswer {
  status: number;
  json: any;
}

async function admin(method: string, path: string, body?: unknown): Promise<AdminAnswer> {
  const res = await fetch(`${cluster.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${cluster.adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

/** The mixed load; returns the AppId that did everything. */
async function load(): Promise<string> {
  const app = (await admin('POST', '/v1/apps', {})).json.appId as string;
  const other = (await admin('POST', '/v1/apps', {})).json.appId as string;
  const gates = cluster.byRole('gate');
  const online = async (a: string, user: string, gate: number) => {
    const token = (await admin('POST', `/v1/apps/${a}/tokens`, { userId: user })).json.token as string;
    const c = await RawClient.ws(`ws://127.0.0.1:${gates[gate]!.httpPort}/ws`);
    expect((await c.auth(token, `${user}-d`)).body).toBe('authOk');
    return { c, token };
  };
  // kill -9 of a gate with clients on it, first: every series the rest of the load makes lives
  // on processes that are up when the queries run.
  const early = await online(app, 'erin', 1);
  await early.c.request(
    { send: { clientMsgId: 'e-1', to: 'frank', contentType: 'text', body: new TextEncoder().encode('before') } },
    10_000,
  );
  await gates[1]!.kill9();
  await gates[1]!.start();
  await socketReset(gates[0]!.tcpPort);
  await badHttpRequest(gates[0]!.httpPort);
  expect((await fetch(`${cluster.dispatchUrl}?appId=${app}&userId=alice`)).status).toBe(200);
  const alice = await online(app, 'alice', 0);
  const bob = await online(app, 'bob', 1);
  const carol = await online(other, 'carol', 1);
  const dave = await online(other, 'dave', 0);
  const text = (s: string) => new TextEncoder().encode(s);
  for (let i = 0; i < 20; i++) {
    await alice.c.request({ send: { clientMsgId: `a-${i}`, to: 'bob', contentType: 'text', body: text(`hi ${i}`) } }, 10_000);
    await carol.c.request({ send: { clientMsgId: `c-${i}`, to: 'dave', contentType: 'text', body: text(`yo ${i}`) } }, 10_000);
  }
  // A group, and a send refused by the client's mistake (a send error by code).
  await alice.c.request({ groupCreate: { clientMsgId: 'g-1', groupId: 'team', name: 'team', members: ['bob'] } }, 10_000);
  for (let i = 0; i < 5; i++)
    await alice.c.request({ send: { clientMsgId: `g-${i + 2}`, groupId: 'team', contentType: 'text', body: text(`all ${i}`) } }, 10_000);
  await alice.c.request({ send: { clientMsgId: 'bad-1', to: 'not a user', contentType: 'text', body: text('x') } }, 10_000);
  await fileWork(app, alice.token, bob.token, alice.c);
  await rateLimited(app, alice.c);
  for (const c of [alice, bob, carol, dave]) c.c.close();
  return app;
}

/** A client that resets its TCP connection mid-frame: a socket error on the gate. */
async function socketReset(port: number): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(Buffer.from([0, 0, 1, 0, 1, 2]));
  await new Promise((r) => setTimeout(r, 100));
  socket.resetAndDestroy();
}

/** A request line HTTP cannot parse: a client error counted by the HTTP layer. */
async function badHttpRequest(port: number): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const answer = new Promise<string>((resolve) => {
    let text = '';
    socket.on('data', (d) => (text += d.toString())).once('close', () => resolve(text));
  });
  socket.end('NOT HTTP AT ALL\r\n\r\n');
  expect(await answer).toContain('400 Bad Request');
}

/** An upload, a file message, a download, a flash upload with a wrong proof and then a right one. */
async function fileWork(app: string, aliceToken: string, bobToken: string, alice: RawClient): Promise<void> {
  const file = cluster.byRole('file')[0]!;
  const call = async (token: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const raw = body instanceof Uint8Array;
    const res = await fetch(file.url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined && !raw && { 'content-type': 'application/json' }), ...headers },
      body: raw ? (body as unknown as BodyInit) : body === undefined ? undefined : JSON.stringify(body),
    });
    const t = await res.text();
    return t.startsWith('{') ? JSON.parse(t) : t;
  };
  const data = randomBytes(300_000);
  const md5 = createHash('md5').update(data).digest('hex');
  const up = await call(aliceToken, 'POST', '/v1/files/prepare', {
    md5,
    size: data.length,
    name: 'a.bin',
    contentType: 'application/octet-stream',
  });
  await call(aliceToken, 'PUT', `/v1/files/uploads/${up.uploadId}/chunks/0`, data, {
    'content-md5': createHash('md5').update(data).digest('base64'),
  });
  const done = await call(aliceToken, 'POST', `/v1/files/uploads/${up.uploadId}/complete`);
  expect(done.md5, JSON.stringify(done)).toBe(md5);
  await alice.request(
    { send: { clientMsgId: 'f-1', to: 'bob', contentType: 'file', body: imcloud.v1.FileRef.encode({ fileId: done.fileId }).finish() } },
    10_000,
  );
  const url = await call(bobToken, 'GET', `/v1/files/${done.fileId}/url`);
  expect((await fetch(file.url + url.url)).status).toBe(200);
  for (const right of [false, true]) {
    const c = await call(bobToken, 'POST', '/v1/files/prepare', {
      md5,
      size: data.length,
      name: 'b.bin',
      contentType: 'application/octet-stream',
    });
    const answers = c.ranges.map((r: { offset: number; length: number }) =>
      createHmac('sha256', right ? c.nonce : 'wrong')
        .update(data.subarray(r.offset, r.offset + r.length))
        .digest('hex'),
    );
    await call(bobToken, 'POST', '/v1/files/proofs', { challengeId: c.challengeId, answers });
  }
  expect(app).toBeTruthy();
}

/** The app's frame rate set low by the platform, then exceeded: rate-limited frames by AppId. */
async function rateLimited(app: string, alice: RawClient): Promise<void> {
  expect((await admin('PATCH', `/v1/apps/${app}`, { limits: { framesPerSec: 2 } })).status).toBe(200);
  const gate = cluster.byRole('gate')[0]!;
  const limited = async () => {
    const text = await (await fetch(`${gate.url}/metrics`)).text();
    return text.split('\n').some((l) => l.startsWith(`imcloud_gate_app_rate_limited_total{app_id="${app}"}`));
  };
  // The gates learn the new limit within their app cache's lifetime (5 s): keep sending until one refuses.
  await eventually(
    'frames of the app to be rate limited',
    async () => {
      for (let i = 0; i < 20; i++) void alice.request({ sync: { cursors: [] } }, 1_000).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 200));
      return limited();
    },
    30_000,
  );
  expect((await admin('PATCH', `/v1/apps/${app}`, { limits: { framesPerSec: 10_000 } })).status).toBe(200);
}
