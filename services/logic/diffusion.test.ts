import { describe, expect, it } from 'vitest';
import { nextDiffusion } from './diffusion.js';

describe('nextDiffusion', () => {
  it('leaves write diffusion above the threshold and comes back only at 80 % of it', () => {
    expect(nextDiffusion('write', 500, 500)).toBe('write');
    expect(nextDiffusion('write', 501, 500)).toBe('read');
    // Hysteresis: a group hovering around the threshold does not flip on every join and leave.
    expect(nextDiffusion('read', 500, 500)).toBe('read');
    expect(nextDiffusion('read', 401, 500)).toBe('read');
    expect(nextDiffusion('read', 400, 500)).toBe('write');
    expect(nextDiffusion('write', 1, 1)).toBe('write');
    expect(nextDiffusion('read', 1, 1)).toBe('read');
    expect(nextDiffusion('read', 0, 1)).toBe('write');
  });
});
