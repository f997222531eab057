// All outgoing lanes of a client: one ConversationSender per conversation with something to
// send, created on demand and dropped when empty. Routes acks by conversation and Error frames
// by the reqId of the attempt they answer.

import type { ImClientError } from './client-error.js';
import {
  ConversationSender,
  type Outgoing,
  type SendAck,
  type SendFailure,
  type SendTimeouts,
  type SendWire,
} from './conversation-sender.js';

export class SendQueue {
  private readonly lanes = new Map<string, ConversationSender>();

  constructor(
    private readonly wire: SendWire,
    private readonly timeouts: SendTimeouts,
    private readonly acked?: (out: Outgoing, ack: SendAck) => void,
  ) {}

  /** Requests waiting or in flight, over every conversation. */
  get pending(): number {
    let n = 0;
    for (const lane of this.lanes.values()) n += lane.size;
    return n;
  }

  /** The clientMsgIds being sent right now, one per busy conversation. */
  inFlight(): string[] {
    return [...this.lanes.values()].map((l) => l.current).filter((id): id is string => id !== undefined);
  }

  enqueue(out: Outgoing): Promise<SendAck> {
    let lane = this.lanes.get(out.conversation);
    if (!lane) {
      const created = new ConversationSender(out.conversation, this.wire, this.timeouts, {
        acked: this.acked,
        idle: () => {
          if (this.lanes.get(out.conversation) === created && created.size === 0) this.lanes.delete(out.conversation);
        },
      });
      this.lanes.set(out.conversation, (lane = created));
    }
    return lane.enqueue(out);
  }

  ack(ack: SendAck): boolean {
    return this.lanes.get(ack.conversation)?.ack(ack) ?? false;
  }

  fail(reqId: number, failure: SendFailure): boolean {
    for (const lane of this.lanes.values()) if (lane.fail(reqId, failure)) return true;
    return false;
  }

  online(): void {
    for (const lane of [...this.lanes.values()]) lane.online();
  }

  offline(): void {
    for (const lane of this.lanes.values()) lane.offline();
  }

  close(err: ImClientError): void {
    for (const lane of [...this.lanes.values()]) lane.close(err);
    this.lanes.clear();
  }
}
