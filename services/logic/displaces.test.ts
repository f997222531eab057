import { describe, expect, it } from 'vitest';
import type { Route } from '../ports/routes.js';
import { displaces } from './logins.js';

const route = (connId: string, deviceId: string, platform: number, since: number): Route => ({
  connId,
  gateId: 'g',
  deviceId,
  platform,
  since,
});

describe('multi-login policy', () => {
  const oldWeb = route('c1', 'd-web', 1, 100);
  const newWeb = route('c2', 'd-web2', 1, 200);
  const newIos = route('c3', 'd-ios', 2, 200);
  const sameDevice = route('c4', 'd-web', 1, 200);

  it('single: any newer login displaces every older one', () => {
    expect(displaces('single', newIos, oldWeb)).toBe(true);
    expect(displaces('single', oldWeb, newIos)).toBe(false);
  });

  it('per-platform: only the same platform (or the same device)', () => {
    expect(displaces('per-platform', newWeb, oldWeb)).toBe(true);
    expect(displaces('per-platform', newIos, oldWeb)).toBe(false);
  });

  it('all: only a reconnect of the same device', () => {
    expect(displaces('all', newWeb, oldWeb)).toBe(false);
    expect(displaces('all', sameDevice, oldWeb)).toBe(true);
  });

  it('breaks a tie in login time by connection id, so exactly one of two wins', () => {
    const a = route('a', 'x', 1, 500);
    const b = route('b', 'y', 1, 500);
    expect(displaces('single', b, a)).not.toBe(displaces('single', a, b));
  });
});
