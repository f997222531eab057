import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { decodeFrame, encodeFrame, type Frame, type FrameInit } from '../../protocol/frame-codec.js';
import type { ImClientError } from './client-error.js';
import { type ConnectionHandlers, ConnectionLoop, type ConnectionOptions } from './connection-loop.js';
import type { WebSocketConstructor, WebSocketLike } from './frame-socket.js';
import type { StateEvent } from './types.js';

/** A gate socket played by the test: it opens at once and answers Auth as the gate is told to. */
class GateSocket implements WebSocketLike {
  binaryType = 'blob';
  readyState = 0;
  bufferedAmount = 0;
  written: Frame[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;

  constructor(
    readonly url: string,
    private readonly gate: FakeGate,
  ) {
    gate.sockets.push(this);
    queueMicrotask(() => {
      this.readyState = 1;
      this.onopen?.({});
    });
  }

  send(data: Uint8Array): void {
    const frame = decodeFrame(data);
    this.written.push(frame);
    if (frame.auth) queueMicrotask(() => this.gate.onAuth(this, frame));
  }

  close(): void {
    this.readyState = 3;
  }

  deliver(frame: FrameInit): void {
    const bytes = encodeFrame(frame);
    this.onmessage?.({ data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
  }

  /** The gate closes the connection. */
  serverClose(code: number, reason: string): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

class FakeGate {
  sockets: GateSocket[] = [];
  onAuth = (ws: GateSocket, auth: Frame) => ws.deliver({ reqId: auth.reqId, authOk: { userId: 'alice', gateId: 'g1', appId: 'demo' } });
  readonly webSocket: WebSocketConstructor;
  constructor() {
    const gate = this;
    this.webSocket = class extends GateSocket {
      constructor(url: string) {
        super(url, gate);
      }
    };
  }
  get last(): GateSocket {
    return this.sockets[this.sockets.length - 1];
  }
}

function setup(options: Partial<ConnectionOptions> = {}) {
  const gate = new FakeGate();
  const states: StateEvent[] = [];
  const calls: string[] = [];
  const stoppedWith: ImClientError[] = [];
  const handlers: ConnectionHandlers = {
    state: (e) => void states.push(e),
    error: () => undefined,
    authenticated: async (appId, userId) => void calls.push(`authenticated ${appId} ${userId}`),
    online: () => void calls.push('online'),
    offline: () => void calls.push('offline'),
    stopped: (err) => void stoppedWith.push(err),
    frame: (f) => void calls.push(`frame ${f.body}`),
    errorFrame: (reqId, err) => void calls.push(`errorFrame ${reqId} ${err.code}`),
  };
  const loop = new ConnectionLoop(
    {
      appId: 'demo',
      gateUrl: 'ws://gate/ws',
      token: 'token-1',
      deviceId: 'd1',
      platform: 'server',
      sdkVersion: '9.9.9',
      timeouts: { connect: 1000, request: 1000, ack: 500, send: 0, pong: 1000, gapGrace: 100, dispatch: 1000, uploadChunk: 1000 },
      reconnect: { baseMs: 100, maxMs: 100 },
      webSocket: gate.webSocket,
      ...options,
    },
    handlers,
  );
  return { loop, gate, states, calls, stoppedWith };
}

const brief = (states: StateEvent[]) => states.map((s) => (s.state === 'offline' ? `offline(${s.reason}, ${s.willReconnect})` : s.state));

describe('ConnectionLoop', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('asks dispatch, authenticates at the gate it names, loads the cursors, then goes online', async () => {
    const asked: string[] = [];
    const fetch = async (url: URL) => {
      asked.push(String(url));
      return Response.json({ gates: [{ ws: 'ws://g1/ws' }], heartbeatIntervalMs: 20_000 });
    };
    const { loop, gate, states, calls } = setup({ gateUrl: undefined, dispatchUrl: 'http://dispatch/v1/dispatch', fetch });
    await loop.start();
    expect(asked).toEqual(['http://dispatch/v1/dispatch?appId=demo']);
    expect(gate.last.url).toBe('ws://g1/ws');
    expect(gate.last.written[0].auth).toMatchObject({ token: 'token-1', deviceId: 'd1', sdkVersion: 'imcloud-ts/9.9.9' });
    expect(calls).toEqual(['authenticated demo alice', 'online']);
    expect(brief(states)).toEqual(['connecting', 'online']);
    expect([loop.userId, loop.gateId, loop.onlineConnection?.current]).toEqual(['alice', 'g1', true]);
    // AuthOk named no heartbeat interval, so dispatch's is used.
    await vi.advanceTimersByTimeAsync(20_000);
    expect(gate.last.written.map((f) => f.body)).toEqual(['auth', 'ping']);
  });

  it('stops for good on a fatal auth error: start() rejects and queued work fails with that code', async () => {
    const { loop, gate, states, stoppedWith } = setup();
    gate.onAuth = (ws, auth) => {
      ws.deliver({ reqId: auth.reqId, error: { code: 'IM_TOKEN_INVALID', message: 'bad token', fatal: true } });
      ws.serverClose(1008, 'fatal');
    };
    await expect(loop.start()).rejects.toMatchObject({ code: 'IM_TOKEN_INVALID' });
    expect(brief(states)).toEqual(['connecting', 'offline(IM_TOKEN_INVALID, false)']);
    expect(stoppedWith.map((e) => [e.code, e.message])).toEqual([['IM_TOKEN_INVALID', 'the client stopped: IM_TOKEN_INVALID']]);
    expect(loop.stopped).toBe(true);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(gate.sockets).toHaveLength(1);
  });

  it('reconnects after the gate closes, with a fresh token from getToken', async () => {
    let n = 0;
    const { loop, gate, states, calls } = setup({ token: undefined, getToken: () => `token-${++n}` });
    await loop.start();
    gate.last.serverClose(1001, 'going away');
    await vi.advanceTimersByTimeAsync(0);
    expect(brief(states)).toEqual(['connecting', 'online', 'offline(going away, true)']);
    expect(states[2].retryInMs).toBeLessThan(100);
    await vi.advanceTimersByTimeAsync(100);
    expect(brief(states)).toEqual(['connecting', 'online', 'offline(going away, true)', 'connecting', 'online']);
    expect(gate.sockets.map((s) => s.written[0].auth?.token)).toEqual(['token-1', 'token-2']);
    expect(calls).toEqual(['authenticated demo alice', 'online', 'offline', 'authenticated demo alice', 'online']);
  });

  it('answers requests by reqId; a request bound to a connection fails when it closes, one across reconnects is asked again', async () => {
    const { loop, gate, calls } = setup();
    await loop.start();
    const read = loop.request({ read: { conversation: 's:alice:bob', seq: 3 } });
    const first = gate.last;
    const readReq = first.written[1];
    first.deliver({ reqId: readReq.reqId, readAck: { readSeq: 3 } });
    expect((await read).readAck).toMatchObject({ readSeq: 3 });

    const bound = loop.request({ pull: { conversation: 's:alice:bob', fromSeq: 1, toSeq: 2 } }, { connection: loop.onlineConnection });
    const across = loop.request({ history: { conversation: 's:alice:bob' } }, { acrossReconnects: true });
    first.serverClose(1006, 'network');
    await expect(bound).rejects.toMatchObject({ code: 'SDK_CONNECTION_LOST' });
    await vi.advanceTimersByTimeAsync(100);
    const again = gate.last.written.find((f) => f.history);
    expect(gate.sockets).toHaveLength(2);
    gate.last.deliver({ reqId: again!.reqId, historyResult: { hasMore: true } });
    expect((await across).historyResult).toMatchObject({ hasMore: true });
    // An Error frame that answers no waiting request goes to the handlers (it may be a send attempt's).
    gate.last.deliver({ reqId: 999, error: { code: 'IM_RATE_LIMITED', message: 'slow' } });
    expect(calls.at(-1)).toBe('errorFrame 999 IM_RATE_LIMITED');
  });
});
