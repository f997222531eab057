// The options an ImClient takes, shared by its parts (the facade, the connection loop, a session).
import type { Frame, FrameInit } from '../../protocol/frame-codec.js';
import type { CursorStore } from './cursor-store.js';
import type { WebSocketConstructor } from './frame-socket.js';
import type { PlatformName } from './types.js';

export interface ImClientTimeouts {
  /** Opening the socket and getting AuthOk. */
  connect: number;
  /** One request (sync page, pull, history, read, logout). */
  request: number;
  /** One send attempt: no SendAck by then → written again with the same clientMsgId. */
  ack: number;
  /** A whole send(), including time spent offline; 0 = no limit. */
  send: number;
  /** No answer to a Ping within this → the connection is dead; reconnect. */
  pong: number;
  /** How long a seq gap may stay open (waiting for a late push) before it is pulled. */
  gapGrace: number;
  /** Fetching the dispatch answer. */
  dispatch: number;
  /** One chunk of an upload (PUT): no answer by then → sent again. */
  uploadChunk: number;
}

export const DEFAULT_TIMEOUTS: ImClientTimeouts = {
  connect: 10_000,
  request: 10_000,
  ack: 5_000,
  send: 120_000,
  pong: 10_000,
  gapGrace: 300,
  dispatch: 10_000,
  uploadChunk: 120_000,
};

/** Frame-level hooks for tests and diagnostics: observe or drop traffic. */
export interface ImClientHooks {
  /** Before a frame is written; return false to drop it (as a lossy network would). */
  outgoing?(frame: FrameInit): boolean | void;
  /** After a frame was handed to the socket. */
  written?(frame: FrameInit): void;
  /** Before a received frame is handled; return false to drop it. */
  incoming?(frame: Frame): boolean | void;
}

export interface ImClientOptions {
  appId: string;
  /** Dispatch endpoint, e.g. "https://im.example.com/v1/dispatch" (relative URLs work in browsers). */
  dispatchUrl?: string;
  /** Connect to this gate directly instead of asking dispatch (ws:// or wss:// …/ws). */
  gateUrl?: string;
  /** A user token minted by the app's backend. Use getToken for tokens that expire. */
  token?: string;
  /** Called before every connection attempt and after IM_TOKEN_EXPIRED. */
  getToken?: () => string | Promise<string>;
  /** Stable per installation: the server keeps one route per device. Default: random per client. */
  deviceId?: string;
  /** Default: "web" in browsers, "server" elsewhere. */
  platform?: PlatformName;
  /** Default: in memory (cursors last as long as the process). Browsers: IndexedDbCursorStore. */
  cursorStore?: CursorStore;
  timeouts?: Partial<ImClientTimeouts>;
  /** Until dispatch sends its own hint. */
  reconnect?: { baseMs?: number; maxMs?: number };
  /** Messages per sync page (the server caps it). */
  syncPageSize?: number;
  /** PushAcks and cursor saves are batched over this many ms. */
  ackBatchMs?: number;
  hooks?: ImClientHooks;
  /**
   * The WebSocket class to connect with (default: the runtime's, or the `ws` package on Node 20),
   * e.g. in Node a `ws` subclass that trusts a private CA for wss:// gates.
   */
  webSocket?: WebSocketConstructor;
  /**
   * The fetch used to ask dispatch and the file service (default: globalThis.fetch), e.g. one
   * that trusts a private CA.
   */
  fetch?: (url: URL, init: RequestInit & { signal: AbortSignal }) => Promise<Response>;
  /**
   * The base URL of the file service (upload, fileUrl), e.g. "https://im.example.com/". Default:
   * the base of dispatchUrl (its part before "v1/dispatch"), else the gate's host over http(s).
   */
  filesUrl?: string;
}

export interface SendOptions {
  /** Default "text" for a string body, "application/octet-stream" for bytes. */
  contentType?: string;
  /** Reuse the id of an earlier send() that failed, so the server can deduplicate it. */
  clientMsgId?: string;
}
