import { describe, expect, it } from 'vitest';
import { modelledGoodput } from './overload.js';

describe('modelledGoodput: the share of capacity kept at f × capacity offered', () => {
  it('is all of it when refusals cost nothing, and falls with their cost', () => {
    expect(modelledGoodput(60, 0, 2)).toBe(1);
    // A refusal a sixth of a delivered message: 80 % at 2×.
    expect(modelledGoodput(60, 10, 2)).toBe(0.8);
    expect(modelledGoodput(60, 20, 2)).toBe(0.5);
    // Refusals as dear as service: nothing gets through at 2× (the collapse).
    expect(modelledGoodput(60, 30, 2)).toBe(0);
    expect(modelledGoodput(60, 60, 2)).toBe(0);
    expect(modelledGoodput(60, 90, 2)).toBe(0);
    // Without a capacity run there is nothing to model.
    expect(modelledGoodput(Number.NaN, 10, 2)).toBeNaN();
  });
});
