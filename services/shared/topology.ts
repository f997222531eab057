// Names shared by the roles, the real adapters and the operator (which reads queue depth and
// gate load to scale). Changing one is a breaking change for running clusters.

export const bus = {
  /** Topic exchange gates publish client frames to; routing key `<track>.<appId>`. */
  upstreamExchange: 'imcloud.upstream',
  /** One quorum work queue per gray track, bound with `<track>.#`. */
  upstreamQueue: (track: string) => `imcloud.upstream.${track}`,
  /**
   * Direct exchange for downstream batches (every frame logic sends a gate's clients); routing
   * key = gate id. Named "push" since the first release: running clusters and the operator know it so.
   */
  downstreamExchange: 'imcloud.push',
  /** One auto-delete queue per gate instance. */
  downstreamQueue: (gateId: string) => `imcloud.push.${gateId}`,
  /** Durable quorum queue the consumer drains (its depth drives consumer autoscaling). */
  storeQueue: 'imcloud.store',
  /** One quorum queue per app with webhook events, single active consumer (ADR 0037). */
  eventsQueue: (appId: string) => `imcloud.events.${appId}`,
  deadLetterExchange: 'imcloud.dead',
  deadLetterQueue: 'imcloud.dead',
} as const;

export const redisKeys = {
  /** Hash: gate id → JSON GateInfo (with reportedAt); gate load for dispatch and the operator. */
  gates: 'imcloud:gates',
  routes: (appId: string, userId: string) => `imcloud:{${appId}}:routes:${userId}`,
  seq: (appId: string, conversation: string) => `imcloud:{${appId}}:seq:${conversation}`,
  /** Held while one process reserves and installs a conversation's next seq block. */
  seqLock: (seqKey: string) => `${seqKey}:reserving`,
  dedupe: (appId: string, sender: string, clientMsgId: string) => `imcloud:{${appId}}:dedupe:${sender}:${clientMsgId}`,
  window: (appId: string, conversation: string) => `imcloud:{${appId}}:window:${conversation}`,
  conversation: (appId: string, conversation: string) => `imcloud:{${appId}}:conv:${conversation}`,
  userConversations: (appId: string, userId: string) => `imcloud:{${appId}}:convs:${userId}`,
  /** Sorted set: [userId, conversation] whose cursors moved, scored by when they first did (write-behind). */
  dirtyCursors: (appId: string) => `imcloud:{${appId}}:cursors-dirty`,
  /** Hash: a group (`g`) and its member records (`m:<user>`), cached from MongoDB (RedisGroupCache). */
  group: (appId: string, groupId: string) => `imcloud:{${appId}}:group:${groupId}`,
  /** Sorted set (by id): the group's current members, cached beside the group. */
  groupMembers: (appId: string, groupId: string) => `imcloud:{${appId}}:group-members:${groupId}`,
  /** Counter: bumped by every write to the group, so a load that raced a write is not installed. */
  groupVersion: (appId: string, groupId: string) => `imcloud:{${appId}}:group-version:${groupId}`,
  rate: (key: string) => `imcloud:rate:${key}`,
  workerId: (id: number) => `imcloud:worker:${id}`,
} as const;
