import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ImClientError } from './client-error.js';
import { PendingRequests } from './pending-requests.js';

describe('PendingRequests', () => {
  let pending: PendingRequests<string>;
  beforeEach(() => {
    vi.useFakeTimers();
    pending = new PendingRequests<string>();
  });
  afterEach(() => vi.useRealTimers());

  it('settles each request with the answer to its reqId, once', async () => {
    const a = pending.wait(1, Date.now() + 1000, 'sync');
    const b = pending.wait(2, Date.now() + 1000, 'pull');
    expect(pending.resolve(2, 'page')).toBe(true);
    expect(pending.resolve(2, 'again')).toBe(false);
    expect(pending.resolve(7, 'unasked')).toBe(false);
    await expect(b).resolves.toBe('page');
    expect(pending.reject(1, new ImClientError('IM_BAD_REQUEST', 'no'))).toBe(true);
    await expect(a).rejects.toMatchObject({ code: 'IM_BAD_REQUEST' });
    expect(pending.size).toBe(0);
  });

  it('fails a request with SDK_TIMEOUT at its deadline and forgets it', async () => {
    const a = pending.wait(1, Date.now() + 500, 'history');
    const outcome = a.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(499);
    expect(pending.size).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(await outcome).toMatchObject({ code: 'SDK_TIMEOUT', message: 'no answer to history in time' });
    expect(pending.resolve(1, 'late')).toBe(false);
  });

  it('fails every waiting request with one error (the connection was lost)', async () => {
    const all = [1, 2, 3].map((reqId) => pending.wait(reqId, Date.now() + 1000, 'read').catch((e: ImClientError) => e.code));
    pending.rejectAll(new ImClientError('SDK_CONNECTION_LOST', 'gone'));
    expect(await Promise.all(all)).toEqual(['SDK_CONNECTION_LOST', 'SDK_CONNECTION_LOST', 'SDK_CONNECTION_LOST']);
    expect(pending.size).toBe(0);
    // No timer is left to fire a second settlement.
    expect(vi.getTimerCount()).toBe(0);
  });
});
