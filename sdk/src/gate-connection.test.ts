import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { decodeFrame, encodeFrame, type Frame, type FrameInit } from '../../protocol/frame-codec.js';
import type { ImClientError } from './client-error.js';
import { FrameSocket, type WebSocketLike } from './frame-socket.js';
import { GateConnection } from './gate-connection.js';
import type { ImClientHooks } from './options.js';

/** A WebSocket that opens at once and records what is written; the test plays the server. */
class FakeWebSocket implements WebSocketLike {
  static last: FakeWebSocket;
  binaryType = 'blob';
  readyState = 0;
  bufferedAmount = 0;
  written: Frame[] = [];
  closedWith?: { code?: number; reason?: string };
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;

  constructor(readonly url: string) {
    FakeWebSocket.last = this;
    queueMicrotask(() => {
      this.readyState = 1;
      this.onopen?.({});
    });
  }

  send(data: Uint8Array): void {
    this.written.push(decodeFrame(data));
  }

  close(code?: number, reason?: string): void {
    this.closedWith ??= { code, reason };
    this.readyState = 3;
  }

  /** The server sends a frame. */
  deliver(frame: FrameInit): void {
    const bytes = encodeFrame(frame);
    this.onmessage?.({ data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
  }
}

interface Opened {
  session: GateConnection;
  ws: FakeWebSocket;
  handed: Frame[];
  errors: ImClientError[];
}

async function open(hooks?: ImClientHooks): Promise<Opened> {
  const socket = await FrameSocket.open('ws://gate/ws', 1000, FakeWebSocket);
  const handed: Frame[] = [];
  const errors: ImClientError[] = [];
  const session = new GateConnection(socket, hooks, { frame: (f) => handed.push(f), error: (e) => errors.push(e) });
  return { session, ws: FakeWebSocket.last, handed, errors };
}

const push = (seq: number): FrameInit => ({ push: { messages: [{ conversation: 's:a:b', seq }] } });

describe('GateConnection', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('holds data frames back until release(), in order, while connection frames pass at once', async () => {
    const { session, ws, handed } = await open();
    ws.deliver(push(1));
    ws.deliver({ reqId: 4, error: { code: 'IM_RATE_LIMITED', message: 'slow' } });
    ws.deliver(push(2));
    expect(handed.map((f) => f.body)).toEqual(['error']);
    session.release();
    ws.deliver(push(3));
    expect(handed.map((f) => (f.body === 'push' ? Number(f.push?.messages?.[0]?.seq) : f.body))).toEqual(['error', 1, 2, 3]);
  });

  it('authenticates: writes Auth and resolves with AuthOk, or null when no AuthOk comes in time', async () => {
    const a = await open();
    const ok = a.session.authenticate({ reqId: 1, auth: { token: 't', deviceId: 'd' } }, 1000);
    expect(a.ws.written.map((f) => f.body)).toEqual(['auth']);
    a.ws.deliver({ reqId: 1, authOk: { userId: 'alice', gateId: 'g1' } });
    expect(await ok).toMatchObject({ userId: 'alice', gateId: 'g1' });

    const b = await open();
    const none = b.session.authenticate({ reqId: 1, auth: { token: 't' } }, 1000);
    await vi.advanceTimersByTimeAsync(1000);
    expect(await none).toBeNull();
  });

  it('pings at the interval and closes with "heartbeat timeout" when nothing answers', async () => {
    const { session, ws } = await open();
    session.startHeartbeat(300, 100);
    await vi.advanceTimersByTimeAsync(300);
    expect(ws.written.map((f) => f.body)).toEqual(['ping']);
    ws.deliver({ pong: {} }); // an answer: the connection lives on
    await vi.advanceTimersByTimeAsync(300);
    expect(ws.closedWith).toBeUndefined();
    expect(ws.written.map((f) => f.body)).toEqual(['ping', 'ping']);
    await vi.advanceTimersByTimeAsync(100);
    expect(ws.closedWith).toEqual({ code: 4002, reason: 'heartbeat timeout' });
  });

  it('records a kick and closes; records a ServerHint and closes at the hinted time', async () => {
    const k = await open();
    k.ws.deliver({ kick: { reason: 1, byDevice: 'phone', byPlatform: 2 } });
    expect(k.session.outcome.kick).toMatchObject({ reason: 'login-elsewhere', byDevice: 'phone', byPlatform: 'ios' });
    expect(k.ws.closedWith).toEqual({ code: 1000, reason: 'kicked' });

    const h = await open();
    const start = Date.now();
    h.ws.deliver({ hint: { reconnectAfterMs: 500, reason: 'draining' } });
    expect(h.session.outcome.reconnectAt).toBe(start + 500);
    await vi.advanceTimersByTimeAsync(499);
    expect(h.ws.closedWith).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(h.ws.closedWith).toEqual({ code: 1000, reason: 'server hint: draining' });
  });

  it('reports an undecodable frame and closes with 4003', async () => {
    const { ws, errors, handed } = await open();
    ws.onmessage?.({ data: new Uint8Array([0xff, 0xff, 0xff]).buffer });
    expect(errors.map((e) => e.code)).toEqual(['SDK_PROTOCOL']);
    expect(ws.closedWith).toEqual({ code: 4003, reason: 'undecodable frame' });
    expect(handed).toEqual([]);
  });

  it('lets the hooks drop frames both ways and observe what was written', async () => {
    const written: string[] = [];
    const { session, ws, handed } = await open({
      outgoing: (f) => (f.ping ? false : undefined),
      written: (f) => void written.push(Object.keys(f).join()),
      incoming: (f) => (f.body === 'push' ? false : undefined),
    });
    session.release();
    expect(session.write({ ping: {} })).toBe(true); // dropped, as a lossy network would
    expect(session.write({ reqId: 2, read: { conversation: 's:a:b', seq: 1 } })).toBe(true);
    expect(ws.written.map((f) => f.body)).toEqual(['read']);
    expect(written).toEqual(['reqId,read']);
    ws.deliver(push(1));
    ws.deliver({ reqId: 2, readAck: { readSeq: 1 } });
    expect(handed.map((f) => f.body)).toEqual(['readAck']);
  });

  it('ends once: afterwards it is no longer current and hands on nothing', async () => {
    const { session, ws, handed } = await open();
    session.release();
    session.startHeartbeat(100, 50);
    expect(session.end()).toBe(true);
    expect(session.end()).toBe(false);
    expect(session.current).toBe(false);
    ws.deliver(push(1));
    await vi.advanceTimersByTimeAsync(1000);
    expect(handed).toEqual([]);
    expect(ws.written).toEqual([]); // the heartbeat stopped with it
  });
});
