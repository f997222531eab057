import type { Backends } from '../../ports/backends.js';
import { MemoryAppRegistry } from './memory-app-registry.js';
import { MemoryBus } from './memory-bus.js';
import { MemoryConversationState } from './memory-conversation-state.js';
import { MemoryDedupe } from './memory-dedupe.js';
import { MemoryFileCatalog } from './memory-file-catalog.js';
import { MemoryGroupDirectory } from './memory-group-directory.js';
import { MemoryMessageStore } from './memory-message-store.js';
import { MemoryRateLimiter } from './memory-rate-limiter.js';
import { MemoryRecentWindow } from './memory-recent-window.js';
import { MemoryRoutes } from './memory-routes.js';
import { MemorySeqAllocator } from './memory-seq-allocator.js';
import { MemoryWorkerIds } from './memory-worker-ids.js';

/** Every port in memory: the embedded mode and fast unit tests. One process only. */
export function createMemoryBackends(
  opts: { onDeadLetter?: (channel: string) => void; upstreamMaxBytes?: number; prefetch?: number } = {},
): Backends {
  const bus = new MemoryBus({ onDeadLetter: opts.onDeadLetter, upstreamMaxBytes: opts.upstreamMaxBytes, prefetch: opts.prefetch });
  const seq = new MemorySeqAllocator();
  return {
    kind: 'memory',
    bus,
    routes: new MemoryRoutes(),
    seq,
    dedupe: new MemoryDedupe(Date.now, seq),
    window: new MemoryRecentWindow(),
    store: new MemoryMessageStore(),
    conversations: new MemoryConversationState(),
    apps: new MemoryAppRegistry(),
    groups: new MemoryGroupDirectory(),
    files: new MemoryFileCatalog(),
    workerIds: new MemoryWorkerIds(),
    rateLimiter: new MemoryRateLimiter(),
    ready: () => true,
    close: () => bus.close(),
  };
}
