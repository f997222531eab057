// Idempotent sends: one record per (appId, sender, clientMsgId).
//
// claim() → 'new': the caller owns the send for `leaseMs`; it then records the allocated
// message (allocate) before publishing, and the ack (complete) once the store accepted it.
// A retry sees 'done' (answer the original ack), 'allocated' (the owner died after choosing
// seq and id: publish that same message again, then complete) or 'busy' (someone is working
// on it right now: ask the client to retry shortly).

export interface SendAckRecord {
  clientMsgId: string;
  conversation: string;
  seq: number;
  msgId: string;
  ts: number;
}

export type DedupeClaim =
  | { state: 'new' }
  | { state: 'busy' }
  | { state: 'allocated'; message: Uint8Array }
  | { state: 'done'; ack: SendAckRecord };

export interface Dedupe {
  claim(appId: string, sender: string, clientMsgId: string, leaseMs: number): Promise<DedupeClaim>;
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
