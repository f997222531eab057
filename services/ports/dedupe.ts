// Idempotent sends: one record per (appId, sender, clientMsgId).
//
// claim() → 'new': the caller owns the send for `leaseMs`; it then records the allocated
// message (allocate) before publishing, and the ack (complete) once the store accepted it.
// A retry sees 'done' (answer the original ack), 'allocated' (the owner died after choosing
// seq and id: publish that same message again, then complete) or 'busy' (someone is working
// on it right now: ask the client to retry shortly).
//
// claim() with a SeqDraw does claim, seq and allocate in one step when it can (ADR 0014): a new
// send also takes the conversation's next seq, exactly as the SeqAllocator of the same Backends
// would, and records the draft (the encoded message with seq 0) with that seq. It returns 'new'
// with the seq. An adapter that has no seq at hand without a slow step (a block to reserve)
// returns 'new' without one, and the caller goes on with SeqAllocator.next and allocate() as
// before.
//
// Why the draw is in the port, and not a Redis detail (ADR 0026): the caller relies on what it
// promises, not only on the round trip it saves. The seq and the draft are recorded with the
// claim in one step, so a retry after any failure resumes that same seq ('allocated' with seq);
// and a drawn seq cannot be handed back without leaving a gap (ADR 0004), so the caller must
// know whether it drew (it lets such a send through even when the rate limit refused it, and
// stops drawing for a while after a refusal). How the draw is done (one script over keys in one
// hash slot, one synchronous step in memory) is the adapter's; an adapter that cannot draw
// cheaply never draws, and stays correct.

export interface SendAckRecord {
  clientMsgId: string;
  conversation: string;
  seq: number;
  msgId: string;
  ts: number;
}

export type DedupeClaim =
  /** seq: drawn with the claim, and the draft recorded with it (the send is allocated). */
  | { state: 'new'; seq?: number }
  | { state: 'busy' }
  /** seq: the message is a draft (seq 0) recorded with this seq by a claim with a SeqDraw. */
  | { state: 'allocated'; message: Uint8Array; seq?: number }
  | { state: 'done'; ack: SendAckRecord };

/** What a claim may also allocate for a new send: the conversation's next seq and the draft. */
export interface SeqDraw {
  conversation: string;
  /** The encoded message with seq 0; kept like allocate()'s message, for `ttlMs`. */
  draft: Uint8Array;
  ttlMs: number;
}

export interface Dedupe {
  claim(appId: string, sender: string, clientMsgId: string, leaseMs: number, draw?: SeqDraw): Promise<DedupeClaim>;
  /** Records the encoded message chosen for this send (kept until the record expires). */
  allocate(appId: string, sender: string, clientMsgId: string, message: Uint8Array, ttlMs: number): Promise<void>;
  complete(appId: string, sender: string, clientMsgId: string, ack: SendAckRecord, ttlMs: number): Promise<void>;
  /**
   * Gives up the caller's lease after a failure, so a retry need not wait for it to expire: a
   * claim that never allocated is forgotten (the retry starts fresh); an allocated one is kept
   * (the retry resumes it with the same seq and id). A completed record is left alone.
   */
  release(appId: string, sender: string, clientMsgId: string): Promise<void>;
}
