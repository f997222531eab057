import { describe, expect, it } from 'vitest';
import { FileConversations } from './file-conversations.js';

describe('FileConversations (fileId → conversation, bounded LRU)', () => {
  it('keeps the latest conversation per file and forgets the least recently used beyond its bound', () => {
    const c = new FileConversations(3);
    c.remember('f1', 's:a:b');
    c.remember('f2', 'g:x');
    c.remember('f3', 'g:y');
    c.remember('f1', 'g:z'); // moved, and now the most recent
    expect(c.get('f2')).toBe('g:x'); // touched: f3 is now the oldest
    c.remember('f4', 's:a:c');
    expect(c.size).toBe(3);
    expect(c.get('f3')).toBeUndefined();
    expect(c.get('f1')).toBe('g:z');
    expect(c.get('f4')).toBe('s:a:c');
  });
});
