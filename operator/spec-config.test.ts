import { describe, expect, it } from 'vitest';
import { specConfigProblems } from './spec-config.js';

describe('specConfigProblems', () => {
  it('accepts settings the roles know, with values they accept', () => {
    expect(specConfigProblems(undefined)).toEqual([]);
    expect(specConfigProblems({ 'gate.rateLimitPerSec': '500', 'consumer.lingerMs': '100', 'gate.appIds': 'a1,b2', 'web.enabled': 'true' })).toEqual([]);
  });

  it('names every unknown setting and every bad value, by its spec.config key', () => {
    const problems = specConfigProblems({ 'gate.rateLimitPerSec': 'lots', 'gate.nope': '1', 'nosuch.key': 'x', 'consumer.lingerMs': '600000', 'log.level': 'debug' });
    expect(problems).toHaveLength(4);
    expect(problems).toContain('gate.nope: no such setting (docs/configuration.md lists them)');
    expect(problems).toContain('nosuch.key: no such setting (docs/configuration.md lists them)');
    expect(problems.find((p) => p.startsWith('gate.rateLimitPerSec:'))).toMatch(/number/);
    expect(problems.find((p) => p.startsWith('consumer.lingerMs:'))).toMatch(/<=10000/);
  });

  it('does not take inherited object properties for settings', () => {
    expect(specConfigProblems({ 'gate.constructor': '1', 'toString.x': '1' })).toHaveLength(2);
  });
});
