// Browser cursor store on IndexedDB: survives page reloads, so a returning tab syncs only what
// it missed. One record per (scope, conversation); a save is one read-modify-write transaction
// per batch, which keeps cursors monotonic even when two tabs of one device write at once.
import type { CursorStore, Cursors } from './cursor-store.js';

const STORE = 'cursors';

interface CursorRecord {
  scope: string;
  conversation: string;
  seq: number;
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

export class IndexedDbCursorStore implements CursorStore {
  private db?: Promise<IDBDatabase>;

  constructor(
    private readonly dbName = 'imcloud-sdk',
    private readonly factory: IDBFactory | undefined = globalThis.indexedDB,
  ) {}

  /** Whether this environment has IndexedDB at all (Node does not). */
  static available(): boolean {
    return typeof globalThis.indexedDB !== 'undefined';
  }

  private open(): Promise<IDBDatabase> {
    if (!this.factory) return Promise.reject(new Error('IndexedDB is not available here; use MemoryCursorStore'));
    this.db ??= new Promise<IDBDatabase>((resolve, reject) => {
      const req = this.factory!.open(this.dbName, 1);
      req.onupgradeneeded = () => {
        const store = req.result.createObjectStore(STORE, { keyPath: ['scope', 'conversation'] });
        store.createIndex('scope', 'scope');
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error ?? new Error(`cannot open IndexedDB ${this.dbName}`));
      req.onblocked = () => reject(new Error(`IndexedDB ${this.dbName} is blocked by another tab holding an older version`));
    });
    return this.db;
  }

  async load(scope: string): Promise<Cursors> {
    const db = await this.open();
    const tx = db.transaction(STORE, 'readonly');
    const rows = await request(tx.objectStore(STORE).index('scope').getAll(IDBKeyRange.only(scope)) as IDBRequest<CursorRecord[]>);
    const out: Cursors = {};
    for (const r of rows) out[r.conversation] = r.seq;
    return out;
  }

  async save(scope: string, cursors: Cursors): Promise<void> {
    const entries = Object.entries(cursors);
    if (entries.length === 0) return;
    const db = await this.open();
    const tx = db.transaction(STORE, 'readwrite');
    const store = tx.objectStore(STORE);
    for (const [conversation, seq] of entries) {
      const get = store.get([scope, conversation]) as IDBRequest<CursorRecord | undefined>;
      get.onsuccess = () => {
        if ((get.result?.seq ?? 0) < seq) store.put({ scope, conversation, seq } satisfies CursorRecord);
      };
    }
    await done(tx);
  }

  async clear(scope: string): Promise<void> {
    const db = await this.open();
    const tx = db.transaction(STORE, 'readwrite');
    const store = tx.objectStore(STORE);
    const keys = await request(store.index('scope').getAllKeys(IDBKeyRange.only(scope)));
    for (const key of keys) store.delete(key);
    await done(tx);
  }

  close(): void {
    void this.db?.then(
      (db) => db.close(),
      () => undefined,
    );
    this.db = undefined;
  }
}
