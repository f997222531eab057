// A hostile protocol client: raw frames over TCP or WebSocket, plus what RawClient does not do —
// bytes written as they are (no length prefix, no framing), several frames in ONE write
// (pipelining), reading paused, a reset instead of a close. It records every frame it received
// and which tenant it speaks for, so the harness can scan everything any attacker or bystander
// saw for another tenant's canary (see canary.ts).
import { type Socket, connect as tcpConnect } from 'node:net';
import WebSocket from 'ws';
import {
  decodeFrame,
  encodeFrame,
  type Frame,
  type FrameInit,
  LengthPrefixedReader,
  lengthPrefixed,
} from '../../../protocol/frame-codec.js';
import { imcloud } from '../../../protocol/gen/im.js';
import { track } from './canary.js';

type Waiter = { match: (f: Frame) => boolean; resolve: (f: Frame) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

export type Transport = 'tcp' | 'ws';

export interface Endpoint {
  /** ws://host:port/ws */
  wsUrl: string;
  tcpPort: number;
}

export class AttackClient {
  /** Every frame received, in order. */
  readonly all: Frame[] = [];
  /** The encoded size of each frame in `all`. */
  readonly sizes: number[] = [];
  /** Bytes received (frames and framing). */
  bytesIn = 0;
  /** Frames the server sent that this client could not decode (a server bug). */
  readonly undecodable: Uint8Array[] = [];
  private readonly pending: Frame[] = [];
  private waiters: Waiter[] = [];
  private nextReqId = 1;
  private closeInfo?: { code: number; reason: string };
  private closeWaiters: Array<() => void> = [];

  /**
   * @param tenant the AppId this client acts for ('' when it has no valid token). Canaries of
   * any other tenant seen by this client count as a leak.
   */
  private constructor(
    readonly transport: Transport,
    public tenant: string,
    private readonly io: {
      write(b: Uint8Array): void;
      text(s: string): void;
      writeMany(frames: Uint8Array[]): void;
      close(): void;
      reset(): void;
      pause(): void;
      resume(): void;
      end(): void;
    },
  ) {
    track(this);
  }

  static open(transport: Transport, at: Endpoint, tenant: string): Promise<AttackClient> {
    return transport === 'tcp' ? AttackClient.tcp(at.tcpPort, tenant) : AttackClient.ws(at.wsUrl, tenant);
  }

  static async tcp(port: number, tenant: string, host = '127.0.0.1'): Promise<AttackClient> {
    const socket: Socket = tcpConnect(port, host);
    socket.setNoDelay(true);
    const reader = new LengthPrefixedReader(64 * 1024 * 1024);
    const client = new AttackClient('tcp', tenant, {
      write: (b) => void socket.write(b),
      text: (s) => void socket.write(s),
      // One write: every frame in the same segment(s), before any answer can come back.
      writeMany: (frames) => void socket.write(Buffer.concat(frames.map((f) => lengthPrefixed(f)))),
      close: () => socket.destroy(),
      reset: () => socket.resetAndDestroy(),
      pause: () => socket.pause(),
      resume: () => socket.resume(),
      end: () => socket.end(),
    });
    socket.on('data', (chunk: Buffer) => {
      client.bytesIn += chunk.length;
      let frames: Uint8Array[];
      try {
        frames = reader.push(new Uint8Array(chunk));
      } catch {
        client.undecodable.push(new Uint8Array(chunk));
        return;
      }
      for (const f of frames) client.receive(f);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => client.onClose(0, 'tcp closed'));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    return client;
  }

  static async ws(url: string, tenant: string): Promise<AttackClient> {
    const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
    socket.binaryType = 'nodebuffer';
    const raw = () => (socket as unknown as { _socket: Socket })._socket;
    const client = new AttackClient('ws', tenant, {
      write: (b) => socket.send(b, { binary: true }),
      text: (s) => socket.send(s, { binary: false }),
      // Back-to-back messages in one turn: ws writes them to the socket at once.
      writeMany: (frames) => {
        raw().cork();
        for (const f of frames) socket.send(f, { binary: true });
        process.nextTick(() => raw()?.uncork());
      },
      close: () => socket.terminate(),
      reset: () => raw()?.resetAndDestroy(),
      pause: () => raw()?.pause(),
      resume: () => raw()?.resume(),
      end: () => raw()?.end(),
    });
    socket.on('message', (data: Buffer) => {
      client.bytesIn += data.length;
      client.receive(new Uint8Array(data));
    });
    socket.on('error', () => undefined);
    socket.on('close', (code, reason) => client.onClose(code, reason.toString()));
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
      socket.once('unexpected-response', (_req, res) => reject(new Error(`websocket upgrade refused: HTTP ${res.statusCode}`)));
    });
    return client;
  }

  /** The next request id this client would use. */
  reqId(): number {
    return this.nextReqId++;
  }

  /** Encodes a frame (a reqId is added when missing). */
  frame(init: FrameInit): Uint8Array {
    return encodeFrame({ ...init, reqId: init.reqId ?? this.reqId() });
  }

  /** Sends one frame; returns its reqId. */
  send(init: FrameInit): number {
    const reqId = init.reqId ?? this.reqId();
    this.io.writeMany([encodeFrame({ ...init, reqId })]);
    return reqId;
  }

  /** Sends already encoded frames (version byte included) together in one write. */
  sendMany(frames: Uint8Array[]): void {
    this.io.writeMany(frames);
  }

  /** One frame of arbitrary bytes (length-prefixed on TCP, one message on WebSocket). */
  sendBytes(bytes: Uint8Array): void {
    this.io.writeMany([bytes]);
  }

  /** Bytes exactly as given: no length prefix on TCP (use it to break the framing itself). */
  writeRaw(bytes: Uint8Array): void {
    this.io.write(bytes);
  }

  /** A text WebSocket message (frames are binary). */
  sendText(text: string): void {
    this.io.text(text);
  }

  close(): void {
    this.io.close();
  }

  /** TCP RST instead of FIN. */
  reset(): void {
    this.io.reset();
  }

  /** Half-close: no more bytes from us, but the socket stays open for reading. */
  endWriting(): void {
    this.io.end();
  }

  pauseReading(): void {
    this.io.pause();
  }

  resumeReading(): void {
    this.io.resume();
  }

  get isClosed(): boolean {
    return this.closeInfo !== undefined;
  }

  /** Resolves when the connection has closed; rejects after timeoutMs. */
  closed(timeoutMs = 5_000): Promise<{ code: number; reason: string }> {
    if (this.closeInfo) return Promise.resolve(this.closeInfo);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the server did not close the connection within ${timeoutMs} ms; received: ${this.summary()}`)),
        timeoutMs,
      );
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve(this.closeInfo!);
      });
    });
  }

  /** Whether the connection closes within timeoutMs (never rejects). */
  async closesWithin(timeoutMs: number): Promise<boolean> {
    return this.closed(timeoutMs).then(
      () => true,
      () => false,
    );
  }

  /** The first received frame (past or future) that matches and was not taken yet. */
  next(match: (f: Frame) => boolean, timeoutMs = 5_000, what = 'a matching frame'): Promise<Frame> {
    const i = this.pending.findIndex(match);
    if (i >= 0) return Promise.resolve(this.pending.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(new Error(`no ${what} within ${timeoutMs} ms; received: ${this.summary()}${this.isClosed ? ' (closed)' : ''}`));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  nextOf(kind: NonNullable<Frame['body']>, timeoutMs = 5_000): Promise<Frame> {
    return this.next((f) => f.body === kind, timeoutMs, `${kind} frame`);
  }

  /** The next Error frame (any code). */
  nextError(timeoutMs = 5_000): Promise<imcloud.v1.Error> {
    return this.next((f) => f.body === 'error', timeoutMs, 'Error frame').then((f) => f.error as imcloud.v1.Error);
  }

  /** Sends a request and waits for the answer to its reqId (the answer or an Error). */
  async request(init: FrameInit, timeoutMs = 10_000): Promise<Frame> {
    const reqId = this.send(init);
    return this.next((f) => f.reqId === reqId && f.body !== 'push', timeoutMs, `answer to reqId ${reqId}`);
  }

  /** Auth, then AuthOk or Error. */
  async auth(token: string, deviceId: string, platform = imcloud.v1.Platform.PLATFORM_WEB, timeoutMs = 10_000): Promise<Frame> {
    this.send({ auth: { token, deviceId, platform, sdkVersion: 'attack' } });
    return this.next((f) => f.body === 'authOk' || f.body === 'error', timeoutMs, 'AuthOk or Error');
  }

  /** Frame kinds received so far, with error codes: for failure messages. */
  summary(): string {
    if (this.all.length === 0) return 'nothing';
    const kinds = this.all.map((f) =>
      f.body === 'error'
        ? `error(${f.error!.code})`
        : f.body === 'kick'
          ? `kick(${imcloud.v1.KickReason[f.kick!.reason ?? 0]})`
          : String(f.body),
    );
    return kinds.length > 12 ? `${kinds.slice(0, 12).join(', ')} … (${kinds.length} frames)` : kinds.join(', ');
  }

  /** Every message this client received in any frame (push, sync, pull, history). */
  messages(): imcloud.v1.IMessage[] {
    return this.all.flatMap((f) => messagesIn(f));
  }

  private receive(bytes: Uint8Array): void {
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch {
      this.undecodable.push(bytes);
      return;
    }
    this.all.push(frame);
    this.sizes.push(bytes.length);
    const waiter = this.waiters.find((w) => w.match(frame));
    if (waiter) {
      this.waiters = this.waiters.filter((w) => w !== waiter);
      clearTimeout(waiter.timer);
      waiter.resolve(frame);
      return;
    }
    this.pending.push(frame);
  }

  private onClose(code: number, reason: string): void {
    if (this.closeInfo) return;
    this.closeInfo = { code, reason };
    for (const w of this.closeWaiters) w();
    this.closeWaiters = [];
  }
}

export function messagesIn(f: Frame): imcloud.v1.IMessage[] {
  switch (f.body) {
    case 'push':
      return (f.push!.messages ?? []) as imcloud.v1.IMessage[];
    case 'syncPage':
      return (f.syncPage!.messages ?? []) as imcloud.v1.IMessage[];
    case 'pullResult':
      return (f.pullResult!.messages ?? []) as imcloud.v1.IMessage[];
    case 'historyResult':
      return (f.historyResult!.messages ?? []) as imcloud.v1.IMessage[];
    default:
      return [];
  }
}
