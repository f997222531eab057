// Where a device keeps its receive cursors (per conversation: "I hold every message up to seq")
// between runs, so that a restarted app syncs only what it missed. The scope names one
// app/user/device; cursors only move forward.

export type Cursors = Record<string, number>;

export interface CursorStore {
  load(scope: string): Promise<Cursors>;
  /** Merges: each cursor becomes max(stored, given). */
  save(scope: string, cursors: Cursors): Promise<void>;
  clear(scope: string): Promise<void>;
}

/** The default: cursors live as long as the store object (a page reload or restart starts over). */
export class MemoryCursorStore implements CursorStore {
  private readonly scopes = new Map<string, Map<string, number>>();

  async load(scope: string): Promise<Cursors> {
    return Object.fromEntries(this.scopes.get(scope) ?? []);
  }

  async save(scope: string, cursors: Cursors): Promise<void> {
    let map = this.scopes.get(scope);
    if (!map) this.scopes.set(scope, (map = new Map()));
    for (const [conversation, seq] of Object.entries(cursors)) {
      if (seq > (map.get(conversation) ?? 0)) map.set(conversation, seq);
    }
  }

  async clear(scope: string): Promise<void> {
    this.scopes.delete(scope);
  }
}

/** The scope of one device of one user of one app. */
export function cursorScope(appId: string, userId: string, deviceId: string): string {
  return `${appId}/${userId}/${deviceId}`;
}
