// One WebSocket carrying binary frames, the same code in browsers and Node. In Node versions
// without a global WebSocket (Node 20) the `ws` package is loaded on first use, through an
// import that bundlers cannot follow, so browser bundles never contain it.

/** The subset of the WHATWG WebSocket API that both the browser and `ws` implement. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

const OPEN = 1;
let nodeWebSocket: Promise<WebSocketConstructor> | undefined;

async function webSocketClass(): Promise<WebSocketConstructor> {
  const native = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof native === 'function') return native;
  // A variable specifier: esbuild, webpack and vite leave it alone instead of bundling `ws`.
  const specifier = 'ws';
  nodeWebSocket ??= import(/* @vite-ignore */ specifier).then(
    (mod: { WebSocket?: WebSocketConstructor; default?: WebSocketConstructor }) => {
      const ctor = mod.WebSocket ?? mod.default;
      if (!ctor) throw new Error('the "ws" package did not export WebSocket');
      return ctor;
    },
  );
  return nodeWebSocket;
}

export interface SocketClosed {
  code: number;
  reason: string;
  /** This side closed it (close() was called). */
  local: boolean;
}

export class FrameSocket {
  /** Resolves once, when the socket closed for any reason. */
  readonly closed: Promise<SocketClosed>;
  private settle!: (c: SocketClosed) => void;
  private done = false;
  /** Set by the owner; receives each binary message. */
  onFrame: (bytes: Uint8Array) => void = () => undefined;

  private constructor(private readonly ws: WebSocketLike) {
    this.closed = new Promise((resolve) => (this.settle = resolve));
    ws.onmessage = (ev) => {
      if (this.done) return;
      const data = ev.data;
      if (data instanceof ArrayBuffer) this.onFrame(new Uint8Array(data));
      else if (ArrayBuffer.isView(data)) this.onFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      // Text messages are not part of the protocol; the gate never sends them.
    };
    ws.onclose = (ev) => this.finish({ code: ev.code, reason: ev.reason, local: false });
    ws.onerror = () => undefined; // always followed by close
  }

  /** Opens a socket; rejects when it does not open within timeoutMs. */
  static async open(url: string, timeoutMs: number, impl?: WebSocketConstructor): Promise<FrameSocket> {
    const Ctor = impl ?? (await webSocketClass());
    const ws = new Ctor(url);
    ws.binaryType = 'arraybuffer';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        try {
          ws.close();
        } catch {
          // a socket still connecting may refuse close() in some runtimes; it is dropped anyway
        }
        reject(new Error(`WebSocket ${url} did not open within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        ws.onopen = ws.onclose = null;
        // Keep a handler: Node's ws throws on an 'error' event nobody listens to (e.g. close() while connecting).
        ws.onerror = () => undefined;
      };
      ws.onopen = () => {
        cleanup();
        resolve();
      };
      ws.onerror = () => undefined;
      ws.onclose = (ev) => {
        cleanup();
        reject(new Error(`WebSocket ${url} closed before opening (code ${ev.code})`));
      };
    });
    return new FrameSocket(ws);
  }

  get isOpen(): boolean {
    return !this.done && this.ws.readyState === OPEN;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  /** Writes one frame; false when the socket is not open (the frame is not sent). */
  send(bytes: Uint8Array): boolean {
    if (!this.isOpen) return false;
    this.ws.send(bytes);
    return true;
  }

  /** Closes now: no further frames are delivered, and `closed` resolves at once. */
  close(code = 1000, reason = ''): void {
    if (this.done) return;
    try {
      this.ws.close(code, reason.slice(0, 120));
    } catch {
      // already closing
    }
    this.finish({ code, reason, local: true });
  }

  private finish(c: SocketClosed): void {
    if (this.done) return;
    this.done = true;
    this.settle(c);
  }
}
