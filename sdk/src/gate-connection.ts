// One connection to a gate, from socket open to close: frames written and read (through the
// app's hooks), the Auth/AuthOk exchange, the heartbeat that notices a dead path, the frames held
// back until the client has loaded its cursors, and what the server said about why it ends
// (Kick, ServerHint; the connection loop adds a fatal Error).

import { decodeFrame, encodeFrame, type Frame, type FrameInit } from '../../protocol/frame-codec.js';
import type { imcloud } from '../../protocol/gen/im.js';
import { ImClientError } from './client-error.js';
import type { FrameSocket } from './frame-socket.js';
import type { ImClientHooks } from './options.js';
import type { SessionOutcome } from './session-end.js';
import { kickFromWire } from './wire-mapping.js';

/** Frames about the connection itself: handled even while other frames are held back. */
const CONTROL_FRAMES: ReadonlySet<string> = new Set(['authOk', 'error', 'kick', 'pong', 'hint']);

/** A connection as the receive side uses it. */
export interface Link {
  /** It has not ended: still the client's connection. */
  readonly current: boolean;
  write(frame: FrameInit): boolean;
  close(code: number, reason: string): void;
}

export interface GateConnectionHandlers {
  /** Every frame the connection does not handle itself (errors, data, answers), in arrival order. */
  frame(frame: Frame): void;
  error(err: ImClientError): void;
}

export class GateConnection implements Link {
  /** What the server said about why this connection ends: decides what follows (session-end.ts). */
  readonly outcome: SessionOutcome = {};
  /** Frames are held here until release(), so nothing arrives before the cursors it is checked against. */
  private backlog: Frame[] | null = [];
  private authOk?: (ok: imcloud.v1.AuthOk) => void;
  private readonly timers: Array<ReturnType<typeof setTimeout>> = [];
  private heartbeatTimer?: ReturnType<typeof setTimeout>;
  private pongTimer?: ReturnType<typeof setTimeout>;
  private ended = false;

  constructor(
    readonly socket: FrameSocket,
    private readonly hooks: ImClientHooks | undefined,
    private readonly handlers: GateConnectionHandlers,
  ) {
    socket.onFrame = (bytes) => this.read(bytes);
  }

  get current(): boolean {
    return !this.ended;
  }

  write(frame: FrameInit): boolean {
    if (this.hooks?.outgoing?.(frame) === false) return true; // "sent" into the void
    const ok = this.socket.send(encodeFrame(frame));
    if (ok) this.hooks?.written?.(frame);
    return ok;
  }

  close(code: number, reason: string): void {
    this.socket.close(code, reason);
  }

  /** Writes the Auth frame; resolves with AuthOk, or null when the socket closes or timeoutMs passes first. */
  async authenticate(auth: FrameInit, timeoutMs: number): Promise<imcloud.v1.AuthOk | null> {
    const ok = await new Promise<imcloud.v1.AuthOk | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      this.authOk = (frame) => {
        clearTimeout(timer);
        resolve(frame);
      };
      void this.socket.closed.then(() => {
        clearTimeout(timer);
        resolve(null);
      });
      this.write(auth);
    });
    this.authOk = undefined;
    return ok;
  }

  /** A Ping every intervalMs; when no frame at all follows one within pongTimeoutMs, the connection is closed. */
  startHeartbeat(intervalMs: number, pongTimeoutMs: number): void {
    const beat = () => {
      this.write({ ping: { clientTime: Date.now() } });
      // Any frame from the server clears this; silence means a dead path (NAT drop, sleeping laptop).
      this.pongTimer ??= setTimeout(() => this.socket.close(4002, 'heartbeat timeout'), pongTimeoutMs);
      this.heartbeatTimer = setTimeout(beat, intervalMs);
    };
    this.heartbeatTimer = setTimeout(beat, intervalMs);
  }

  /** Hands on the frames held back so far; from now on every frame goes straight through. */
  release(): void {
    const backlog = this.backlog ?? [];
    this.backlog = null;
    for (const frame of backlog) this.handlers.frame(frame);
  }

  /** Ends everything bound to this connection; false when it had ended before. */
  end(): boolean {
    for (const t of this.timers) clearTimeout(t);
    clearTimeout(this.heartbeatTimer);
    clearTimeout(this.pongTimer);
    this.socket.close();
    if (this.ended) return false;
    this.ended = true;
    return true;
  }

  private read(bytes: Uint8Array): void {
    if (this.ended) return;
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (err) {
      this.handlers.error(new ImClientError('SDK_PROTOCOL', `undecodable frame from the server: ${(err as Error).message}`));
      this.socket.close(4003, 'undecodable frame');
      return;
    }
    if (this.hooks?.incoming?.(frame) === false) return;
    // Any frame proves the path works, not only a Pong.
    if (this.pongTimer !== undefined) {
      clearTimeout(this.pongTimer);
      this.pongTimer = undefined;
    }
    if (this.backlog && !CONTROL_FRAMES.has(frame.body ?? '')) {
      this.backlog.push(frame);
      return;
    }
    this.handle(frame);
  }

  private handle(frame: Frame): void {
    switch (frame.body) {
      case 'authOk':
        return this.authOk?.(frame.authOk as imcloud.v1.AuthOk);
      case 'pong':
        return;
      case 'kick':
        this.outcome.kick = kickFromWire(frame.kick as imcloud.v1.Kick);
        // The server closes right after; closing here stops us from writing into a dead connection.
        this.socket.close(1000, 'kicked');
        return;
      case 'hint': {
        const hint = frame.hint as imcloud.v1.ServerHint;
        this.outcome.reconnectAt = Date.now() + hint.reconnectAfterMs;
        // The gate is draining: leave it at the hinted time, through dispatch, to a live gate.
        this.timers.push(setTimeout(() => this.socket.close(1000, `server hint: ${hint.reason}`), hint.reconnectAfterMs));
        return;
      }
      default:
        this.handlers.frame(frame);
    }
  }
}
