// Per-conversation sequence numbers: 1, 2, 3, … Never issues the same seq twice for a
// conversation, even after the fast store loses its data (a real adapter reserves blocks
// against a durable high-water mark, the SeqHighWater port). Gaps are allowed; receivers
// resolve them (docs/architecture.md §2, ADR 0004; blocks: ADR 0009).

export interface SeqAllocator {
  next(appId: string, conversation: string): Promise<number>;
  /** The highest seq issued so far (0 if none); may lag behind after a recovery. */
  current(appId: string, conversation: string): Promise<number>;
}
