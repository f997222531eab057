import { describe, expect, it } from 'vitest';
import { installLastResortHandlers } from './last-resort.js';
import { createLogger } from './logger.js';

describe('last-resort handlers', () => {
  it('count and keep running on a stray exception or rejection, and exit when they keep coming', () => {
    const kinds: string[] = [];
    const exits: number[] = [];
    const uninstall = installLastResortHandlers(createLogger('test', 'test', 'silent'), (k) => kinds.push(k), {
      maxExceptions: 3,
      windowMs: 60_000,
      exit: (c) => exits.push(c),
    });
    // Emitted the way Node emits them, without letting a real one escape the test.
    const emit = process.emit.bind(process) as (event: string, ...args: unknown[]) => boolean;
    try {
      emit('unhandledRejection', new Error('lost promise'), Promise.resolve());
      for (let i = 0; i < 3; i++) emit('uncaughtException', new Error(`bug ${i}`), 'uncaughtException');
      expect(kinds).toEqual(['unhandledRejection', 'uncaughtException', 'uncaughtException', 'uncaughtException']);
      expect(exits).toEqual([]);
      emit('uncaughtException', new Error('one more'), 'uncaughtException');
      expect(exits).toEqual([70]);
    } finally {
      uninstall();
    }
  });

  it("ends the process when it cannot even write the log line (its stdout's reader is gone)", () => {
    const exits: number[] = [];
    const broken = {
      error: () => {
        throw Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
      },
      fatal: () => undefined,
    } as unknown as Parameters<typeof installLastResortHandlers>[0];
    const uninstall = installLastResortHandlers(broken, () => undefined, {
      maxExceptions: 50,
      windowMs: 60_000,
      exit: (c) => exits.push(c),
    });
    const emit = process.emit.bind(process) as (event: string, ...args: unknown[]) => boolean;
    try {
      emit('uncaughtException', new Error('write EPIPE'), 'uncaughtException');
      expect(exits).toEqual([70]);
    } finally {
      uninstall();
    }
  });
});
