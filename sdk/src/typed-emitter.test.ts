import { describe, expect, it } from 'vitest';
import { TypedEmitter } from './typed-emitter.js';

class Probe extends TypedEmitter<{ tick: number; done: string }> {
  readonly failures: string[] = [];
  fire<K extends 'tick' | 'done'>(event: K, payload: { tick: number; done: string }[K]): void {
    this.emit(event, payload);
  }
  protected override onListenerError(event: 'tick' | 'done', err: unknown): void {
    this.failures.push(`${event}: ${(err as Error).message}`);
  }
}

describe('TypedEmitter', () => {
  it('keeps delivering to the other listeners when one throws, and reports the throw', () => {
    const p = new Probe();
    const seen: number[] = [];
    p.on('tick', () => {
      throw new Error('boom');
    });
    p.on('tick', (n) => seen.push(n));
    p.fire('tick', 1);
    p.fire('tick', 2);
    expect(seen).toEqual([1, 2]);
    expect(p.failures).toEqual(['tick: boom', 'tick: boom']);
  });

  it('on() returns an unsubscribe function; once() resolves with the first matching payload', async () => {
    const p = new Probe();
    const seen: number[] = [];
    const off = p.on('tick', (n) => seen.push(n));
    const big = p.once('tick', (n) => n > 5);
    p.fire('tick', 3);
    off();
    p.fire('tick', 7);
    p.fire('tick', 9);
    await expect(big).resolves.toBe(7);
    expect(seen).toEqual([3]);
  });
});
