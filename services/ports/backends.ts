// The set of ports a process runs on. `createBackends` (services/backends.ts) picks the
// adapters from the config: in-memory for the embedded mode, real servers otherwise.
import type { AppRegistry } from './app-registry.js';
import type { Bus } from './bus.js';
import type { ConversationState } from './conversation-state.js';
import type { Dedupe } from './dedupe.js';
import type { FileCatalog } from './file-catalog.js';
import type { GroupDirectory } from './group-directory.js';
import type { MessageStore } from './message-store.js';
import type { RateLimiter } from './rate-limiter.js';
import type { RecentWindow } from './recent-window.js';
import type { Routes } from './routes.js';
import type { SeqAllocator } from './seq-allocator.js';
import type { WorkerIds } from './worker-ids.js';

export interface Backends {
  bus: Bus;
  routes: Routes;
  seq: SeqAllocator;
  dedupe: Dedupe;
  window: RecentWindow;
  store: MessageStore;
  conversations: ConversationState;
  apps: AppRegistry;
  groups: GroupDirectory;
  /** File records (the bytes are in a BlobStore, which only the file role opens). */
  files: FileCatalog;
  workerIds: WorkerIds;
  rateLimiter: RateLimiter;
  /** Names the backend kind in logs and /readyz, e.g. "memory". */
  kind: string;
  /** True once every backend connection is up (readyz). */
  ready(): boolean;
  close(): Promise<void>;
}
