// A client that speaks raw protocol frames over WebSocket or TCP, for protocol-level tests:
// no SDK logic (no retries, no ordering), so tests see exactly what the server sends.
import { type Socket, connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import WebSocket from 'ws';
import { decodeFrame, encodeFrame, type Frame, type FrameInit, LengthPrefixedReader, lengthPrefixed } from '../../protocol/frame-codec.js';
import { imcloud } from '../../protocol/gen/im.js';

type Waiter = { match: (f: Frame) => boolean; resolve: (f: Frame) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

export class RawClient {
  /** Every frame received, in order. */
  readonly all: Frame[] = [];
  /** Received frames that next() has not taken yet. */
  private readonly frames: Frame[] = [];
  private waiters: Waiter[] = [];
  private nextReqId = 1;
  private closeInfo?: { code: number; reason: string };
  private closeWaiters: Array<(info: { code: number; reason: string }) => void> = [];

  private constructor(private readonly transport: { send(b: Uint8Array): void; close(): void; pause(): void }) {}

  /** `ca`: trust this CA for a wss:// URL. */
  static async ws(url: string, ca?: string): Promise<RawClient> {
    const socket = new WebSocket(url, ca ? { ca } : {});
    socket.binaryType = 'nodebuffer';
    const client = new RawClient({
      send: (b) => socket.send(b),
      close: () => socket.close(),
      // ws exposes no pause; stopping the underlying socket makes this a slow reader.
      pause: () => (socket as unknown as { _socket: Socket })._socket.pause(),
    });
    socket.on('message', (data: Buffer) => client.receive(new Uint8Array(data)));
    socket.on('close', (code, reason) => client.onClose(code, reason.toString()));
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return client;
  }

  /** `tls`: TLS over TCP, trusting this CA. */
  static async tcp(port: number, host = '127.0.0.1', tls?: { ca: string }): Promise<RawClient> {
    const socket: Socket = tls ? tlsConnect({ port, host, ca: tls.ca }) : tcpConnect(port, host);
    const reader = new LengthPrefixedReader(16 * 1024 * 1024);
    const client = new RawClient({
      send: (b) => socket.write(lengthPrefixed(b)),
      close: () => socket.destroy(),
      pause: () => socket.pause(),
    });
    socket.on('data', (chunk) => {
      for (const f of reader.push(new Uint8Array(chunk))) client.receive(f);
    });
    socket.on('close', () => client.onClose(0, 'tcp closed'));
    await new Promise<void>((resolve, reject) => {
      socket.once(tls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    return client;
  }

  /** Writes bytes as one frame (length-prefixed on TCP), however malformed. */
  sendBytes(bytes: Uint8Array): void {
    this.transport.send(bytes);
  }

  send(frame: FrameInit): number {
    const reqId = frame.reqId ?? this.nextReqId++;
    this.transport.send(encodeFrame({ ...frame, reqId }));
    return reqId;
  }

  close(): void {
    this.transport.close();
  }

  /** Stops reading from the socket: the server's writes pile up (a slow consumer). */
  pauseReading(): void {
    this.transport.pause();
  }

  get isClosed(): boolean {
    return this.closeInfo !== undefined;
  }

  closed(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    if (this.closeInfo) return Promise.resolve(this.closeInfo);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('connection did not close in time')), timeoutMs);
      this.closeWaiters.push((info) => {
        clearTimeout(timer);
        resolve(info);
      });
    });
  }

  /** The first received frame (past or future) that matches and has not been taken yet. */
  next(match: (f: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    const i = this.frames.findIndex(match);
    if (i >= 0) return Promise.resolve(this.frames.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(new Error(`no matching frame within ${timeoutMs} ms; got: ${this.frames.map((f) => f.body).join(', ') || 'nothing'}`));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  nextOf<K extends NonNullable<Frame['body']>>(kind: K, timeoutMs = 5000): Promise<Frame> {
    return this.next((f) => f.body === kind, timeoutMs);
  }

  /** Sends a request and waits for the frame answering its reqId (the answer or an Error). */
  async request(frame: FrameInit, timeoutMs = 5000): Promise<Frame> {
    const reqId = this.send(frame);
    return this.next((f) => f.reqId === reqId && f.body !== 'push', timeoutMs);
  }

  async auth(token: string, deviceId: string, platform = imcloud.v1.Platform.PLATFORM_WEB): Promise<Frame> {
    this.send({ auth: { token, deviceId, platform, sdkVersion: 'raw-test' } });
    return this.next((f) => f.body === 'authOk' || f.body === 'error');
  }

  /** Every pushed message received so far (in arrival order), optionally for one conversation. */
  pushed(conversation?: string): imcloud.v1.IMessage[] {
    return this.all
      .filter((f) => f.body === 'push')
      .flatMap((f) => (f.push!.messages ?? []) as imcloud.v1.IMessage[])
      .filter((m) => !conversation || m.conversation === conversation);
  }

  private receive(bytes: Uint8Array): void {
    const frame = decodeFrame(bytes);
    this.all.push(frame);
    const waiter = this.waiters.find((w) => w.match(frame));
    if (waiter) {
      this.waiters = this.waiters.filter((w) => w !== waiter);
      clearTimeout(waiter.timer);
      waiter.resolve(frame);
      return;
    }
    this.frames.push(frame);
  }

  private onClose(code: number, reason: string): void {
    this.closeInfo = { code, reason };
    for (const w of this.closeWaiters) w(this.closeInfo);
    this.closeWaiters = [];
  }
}
