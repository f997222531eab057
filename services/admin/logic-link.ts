// The admin API's way to logic: a request that changes a conversation (a group's membership is
// a system message in the group's seq, architecture.md §2a) goes through logic like a client's
// frame, so it gets the same dedupe, order, store confirm and fan-out. The admin process posts
// the frame upstream on its track in an envelope naming a connection of its own, and takes the
// answer from a downstream queue of its own, as a gate would.

import { randomUUID } from 'node:crypto';
import { ImError, isErrorCode } from '../../protocol/errors.js';
import { decodeFrameBody, encodeFrameBody, type Frame, type FrameInit } from '../../protocol/frame-codec.js';
import { imcloud } from '../../protocol/gen/im.js';
import type { Bus, Subscription } from '../ports/bus.js';

/** How long an admin request waits for logic's answer. */
const ANSWER_TIMEOUT_MS = 10_000;
/** Admin requests waiting for logic at once, per process. */
const MAX_PENDING = 1_000;

interface Pending {
  resolve: (frame: Frame) => void;
  reject: (err: ImError) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class LogicLink {
  /** Names this process's downstream queue, as a gate id does. */
  readonly gateId: string;
  private readonly pending = new Map<string, Pending>();
  private subscription?: Subscription;
  private next = 0;

  constructor(
    private readonly bus: Bus,
    node: { id: string; track: string },
    private readonly track = node.track,
  ) {
    this.gateId = `admin.${node.id}`;
  }

  async start(): Promise<void> {
    this.subscription = await this.bus.consumeDownstream(this.gateId, async (delivery) => this.take(delivery.body));
  }

  async stop(): Promise<void> {
    await this.subscription?.cancel();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new ImError('IM_UNAVAILABLE', 'the admin process is stopping; retry'));
    }
    this.pending.clear();
  }

  /** Sends `frame` to logic as `userId` of `appId`; its answer, or the ImError logic answered with. */
  request(appId: string, userId: string, frame: FrameInit): Promise<Frame> {
    if (this.pending.size >= MAX_PENDING)
      throw new ImError('IM_UNAVAILABLE', 'too many admin requests wait for logic; retry', { retryAfterMs: 1_000 });
    const connId = `admin-${++this.next}`;
    const envelope = imcloud.internal.v1.Upstream.encode({
      kind: imcloud.internal.v1.Upstream.Kind.KIND_FRAME,
      appId,
      userId,
      deviceId: 'admin',
      platform: imcloud.v1.Platform.PLATFORM_SERVER,
      connId,
      gateId: this.gateId,
      traceId: randomUUID(),
      receivedAt: Date.now(),
      frame: encodeFrameBody({ ...frame, reqId: 1 }),
      // The app's backend: logic lets it act as the system sender (ADR 0035).
      admin: true,
    }).finish();
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(connId);
        reject(new ImError('IM_UNAVAILABLE', 'logic did not answer in time; retry with the same Idempotency-Key', { retryAfterMs: 1_000 }));
      }, ANSWER_TIMEOUT_MS);
      this.pending.set(connId, { resolve, reject, timer });
      this.bus.publishUpstream(this.track, appId, envelope).catch((err: unknown) => {
        clearTimeout(timer);
        this.pending.delete(connId);
        reject(err instanceof ImError ? err : new ImError('IM_UNAVAILABLE', 'the bus refused the request; retry', { cause: err }));
      });
    });
  }

  /** A downstream batch: each answer settles the request of its connection; pushes and the rest are dropped. */
  private take(body: Uint8Array): void {
    const batch = imcloud.internal.v1.Downstream.decode(body);
    for (const d of batch.deliveries as imcloud.internal.v1.Delivery[]) {
      for (const connId of d.connIds) {
        const p = this.pending.get(connId);
        if (!p) continue;
        const frame = decodeFrameBody(d.frame);
        if (frame.body === 'push') continue;
        this.pending.delete(connId);
        clearTimeout(p.timer);
        if (frame.body !== 'error') p.resolve(frame);
        else p.reject(toImError(frame.error as imcloud.v1.Error));
      }
    }
  }
}

function toImError(e: imcloud.v1.Error): ImError {
  return new ImError(isErrorCode(e.code) ? e.code : 'IM_INTERNAL', e.message, { retryAfterMs: e.retryAfterMs });
}
