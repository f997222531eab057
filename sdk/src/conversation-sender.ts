// The outgoing lane of one conversation. Exactly one request (a message or a recall) is in
// flight per conversation, so the server allocates seqs in the order the app called send();
// lanes of different conversations run in parallel (see SendQueue). A request that is not
// acknowledged in time, or that gets a retryable error, is written again with the SAME
// clientMsgId: the server deduplicates it and answers the original ack.
import type { FrameInit } from '../../protocol/frame-codec.js';
import { ImClientError, RETRYABLE_CODES } from './client-error.js';

export interface SendAck {
  clientMsgId: string;
  conversation: string;
  seq: number;
  msgId: string;
  /** Server time of the message, ms since epoch. */
  ts: number;
  /** The server had already accepted this clientMsgId; this is the original ack. */
  duplicate: boolean;
}

export interface Outgoing {
  clientMsgId: string;
  conversation: string;
  /** The request; every attempt is written with a fresh reqId. */
  body: Pick<FrameInit, 'send' | 'recall' | 'groupCreate' | 'groupChange'>;
  /**
   * What the own message shows once acknowledged, when the server stores something else than
   * was sent (a file message: the sender names the file id, the server fills in the rest).
   */
  ownView?: { contentType: string; body: Uint8Array };
}

export interface SendWire {
  /** Writes the request with a new reqId and returns it, or null when there is no connection. */
  write(body: Outgoing['body']): number | null;
}

export interface SendTimeouts {
  /** Per attempt: no ack by then → write again. */
  ackTimeoutMs: number;
  /** The whole send, including time spent offline; 0 = no limit. */
  deadlineMs: number;
  /** The least wait before retrying after a retryable error without retry_after_ms. */
  minRetryDelayMs: number;
}

export interface SendFailure {
  code: string;
  message: string;
  retryAfterMs: number;
}

interface Entry {
  out: Outgoing;
  resolve: (ack: SendAck) => void;
  reject: (err: ImClientError) => void;
  attempts: number;
  deadlineTimer?: ReturnType<typeof setTimeout>;
}

/** What the head of the lane is waiting for. */
type HeadState = 'idle' | 'ack' | 'retry' | 'offline';

export class ConversationSender {
  private readonly queue: Entry[] = [];
  private state: HeadState = 'idle';
  private reqId: number | null = null;
  private timer?: ReturnType<typeof setTimeout>;

  constructor(
    readonly conversation: string,
    private readonly wire: SendWire,
    private readonly timeouts: SendTimeouts,
    private readonly hooks: {
      /** Called before send() resolves, with the request and its ack. */
      acked?: (out: Outgoing, ack: SendAck) => void;
      /** The lane has nothing left to send. */
      idle?: () => void;
    } = {},
  ) {}

  get size(): number {
    return this.queue.length;
  }

  /** The clientMsgId being sent now, if any. */
  get current(): string | undefined {
    return this.queue[0]?.out.clientMsgId;
  }

  /** How many times the current request was written. */
  get attempts(): number {
    return this.queue[0]?.attempts ?? 0;
  }

  enqueue(out: Outgoing): Promise<SendAck> {
    return new Promise<SendAck>((resolve, reject) => {
      const entry: Entry = { out, resolve, reject, attempts: 0 };
      if (this.timeouts.deadlineMs > 0) {
        entry.deadlineTimer = setTimeout(() => this.expire(entry), this.timeouts.deadlineMs);
      }
      this.queue.push(entry);
      this.pump();
    });
  }

  /** An ack for this conversation; true when it completed the current request. */
  ack(ack: SendAck): boolean {
    const head = this.queue[0];
    // A late ack of an earlier attempt, or of a request already failed, changes nothing.
    if (!head || head.out.clientMsgId !== ack.clientMsgId) return false;
    this.finishHead();
    this.hooks.acked?.(head.out, ack);
    head.resolve(ack);
    this.next();
    return true;
  }

  /** An Error frame answering `reqId`; true when it belonged to this lane's current attempt. */
  fail(reqId: number, failure: SendFailure): boolean {
    const head = this.queue[0];
    if (!head || this.state !== 'ack' || reqId !== this.reqId) return false;
    this.clearTimer();
    this.reqId = null;
    if (RETRYABLE_CODES.has(failure.code)) {
      // Same clientMsgId again, after the wait the server asked for.
      this.state = 'retry';
      this.timer = setTimeout(
        () => {
          this.state = 'idle';
          this.pump();
        },
        Math.max(failure.retryAfterMs, this.timeouts.minRetryDelayMs),
      );
      return true;
    }
    this.finishHead();
    head.reject(new ImClientError(failure.code, failure.message, failure.retryAfterMs));
    this.next();
    return true;
  }

  /** A connection is up: write what waits for one. */
  online(): void {
    if (this.state === 'offline') this.state = 'idle';
    this.pump();
  }

  /** The connection is gone: an attempt in flight died with it and is written again when online. */
  offline(): void {
    if (this.state !== 'ack') return;
    this.clearTimer();
    this.reqId = null;
    this.state = 'offline';
  }

  /** Fails everything queued (the client closes). */
  close(err: ImClientError): void {
    this.clearTimer();
    this.state = 'idle';
    this.reqId = null;
    for (const entry of this.queue.splice(0)) {
      clearTimeout(entry.deadlineTimer);
      entry.reject(err);
    }
    this.hooks.idle?.();
  }

  private pump(): void {
    const head = this.queue[0];
    if (!head || this.state === 'ack' || this.state === 'retry') return;
    const reqId = this.wire.write(head.out.body);
    if (reqId === null) {
      this.state = 'offline';
      return;
    }
    head.attempts += 1;
    this.reqId = reqId;
    this.state = 'ack';
    this.timer = setTimeout(() => {
      // Lost frame, lost ack, or a slow server: all are safe to answer with the same request.
      this.state = 'idle';
      this.reqId = null;
      this.pump();
    }, this.timeouts.ackTimeoutMs);
  }

  private expire(entry: Entry): void {
    const i = this.queue.indexOf(entry);
    if (i < 0) return;
    const err = new ImClientError(
      'SDK_TIMEOUT',
      `no ack for message ${entry.out.clientMsgId} within ${this.timeouts.deadlineMs} ms (${entry.attempts} attempts); send it again with the same clientMsgId to be safe from duplicates`,
    );
    if (i === 0) {
      this.finishHead();
      entry.reject(err);
      this.next();
    } else {
      this.queue.splice(i, 1);
      clearTimeout(entry.deadlineTimer);
      entry.reject(err);
    }
  }

  /** Clears the head's timers; the caller settles and removes it. */
  private finishHead(): void {
    this.clearTimer();
    this.state = 'idle';
    this.reqId = null;
    const head = this.queue[0];
    if (head) clearTimeout(head.deadlineTimer);
  }

  private next(): void {
    this.queue.shift();
    if (this.queue.length === 0) this.hooks.idle?.();
    else this.pump();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
