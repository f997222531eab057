// Waiting for a started server to be ready, and the probes that ask it: a raw TCP exchange
// (Redis PING, the AMQP header, the MongoDB wire protocol) or a small HTTP(S) client (MinIO,
// the Kubernetes API). A server that dies or never becomes ready fails with the end of its log.

import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';
import { binDir, seconds, sleep } from './base.js';
import type { ServerProcess } from './processes.js';

export interface WaitOptions {
  server: ServerProcess;
  /** Other processes the probe depends on: if one of them dies, fail with its log. */
  companions?: ServerProcess[];
  /** What is probed, for messages: e.g. "PING on 127.0.0.1:6379". */
  what: string;
  /** true when ready; false or a thrown error means "not yet". */
  probe: () => Promise<boolean>;
  timeoutMs?: number;
  /** What the user should try next when the server does not come up. */
  hint?: string;
}

/** Polls `probe` until it succeeds, the process dies, or the timeout passes. */
export async function waitForReady(opts: WaitOptions): Promise<number> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const started = Date.now();
  let delay = 50;
  let lastError = '';
  while (Date.now() - started < timeoutMs) {
    for (const server of [opts.server, ...(opts.companions ?? [])]) {
      if (server.isRunning()) continue;
      const exit = await server.exited;
      const why = `exited before it was ready (code ${exit.code}, signal ${exit.signal})`;
      throw await startupError({ ...opts, server, hint: server === opts.server ? opts.hint : undefined }, why);
    }
    try {
      if (await opts.probe()) return Date.now() - started;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 250);
  }
  const why = `did not become ready within ${seconds(timeoutMs)} (${opts.what}${lastError ? `; last probe error: ${lastError}` : ''})`;
  const error = await startupError(opts, why);
  // A server that never became ready is of no use to anyone: don't leave it running.
  await opts.server.stop(2_000);
  throw error;
}

async function startupError(opts: WaitOptions, why: string): Promise<Error> {
  const tail = await lastLines(opts.server.logFile, 40);
  return new Error(
    [
      `infra: ${opts.server.name} ${why}.`,
      `--- last 40 lines of ${opts.server.logFile} ---`,
      tail,
      '--- what to do ---',
      opts.hint ?? `Read the log above.`,
      `The run directory is kept for inspection: ${path.dirname(opts.server.logFile)}.`,
      `If a cached binary looks broken, delete it from ${binDir()} and run \`npx tsx test/infra/cli.ts ensure\`.`,
    ].join('\n'),
  );
}

export async function lastLines(file: string, count: number): Promise<string> {
  try {
    const text = await fs.readFile(file, 'utf8');
    return text.trimEnd().split('\n').slice(-count).join('\n');
  } catch {
    return '(no log written)';
  }
}

/**
 * Opens a TCP connection, writes `request`, and resolves with `accept(received)`
 * as soon as it returns a verdict (true/false); undefined means "read more".
 */
export function tcpProbe(
  port: number,
  request: Buffer | string,
  accept: (received: Buffer) => boolean | undefined,
  timeoutMs = 2_000,
  host = '127.0.0.1',
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let received = Buffer.alloc(0);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const verdict = accept(received);
      if (verdict !== undefined) done(verdict);
    });
    socket.once('end', () => done(false));
  });
}

export interface HttpResult {
  status: number;
  body: string;
}

/** Small HTTP(S) client for probes and for the Kubernetes API (no dependencies). */
export function httpRequest(
  url: string,
  opts: { method?: string; body?: string; headers?: Record<string, string>; tls?: https.RequestOptions; timeoutMs?: number } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const lib = target.protocol === 'https:' ? https : http;
    const req = lib.request(
      target,
      { method: opts.method ?? 'GET', headers: opts.headers, timeout: opts.timeoutMs ?? 5_000, ...opts.tls },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${opts.timeoutMs ?? 5_000} ms: ${url}`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}
