import { describe, expect, it } from 'vitest';
import { operatorSettings } from './objects/common.js';
import { specConfigProblems } from './spec-config.js';
import { cluster } from './testing/fixtures.js';

describe('specConfigProblems', () => {
  it('accepts settings the roles know, with values they accept', () => {
    expect(specConfigProblems(undefined)).toEqual([]);
    expect(
      specConfigProblems({ 'gate.rateLimitPerSec': '500', 'consumer.lingerMs': '100', 'gate.appIds': 'a1,b2', 'web.enabled': 'true' }),
    ).toEqual([]);
  });

  it('names every unknown setting and every bad value, by its spec.config key', () => {
    const problems = specConfigProblems({
      'gate.rateLimitPerSec': 'lots',
      'gate.nope': '1',
      'nosuch.key': 'x',
      'consumer.lingerMs': '600000',
      'log.level': 'debug',
    });
    expect(problems).toHaveLength(4);
    expect(problems).toContain('gate.nope: no such setting (docs/configuration.md lists them)');
    expect(problems).toContain('nosuch.key: no such setting (docs/configuration.md lists them)');
    expect(problems.find((p) => p.startsWith('gate.rateLimitPerSec:'))).toMatch(/number/);
    expect(problems.find((p) => p.startsWith('consumer.lingerMs:'))).toMatch(/<=10000/);
  });

  it('refuses the settings the operator sets itself, saying where they come from', () => {
    const owned = operatorSettings(cluster());
    expect(specConfigProblems({ 'gate.drainMs': '1000', 'redis.url': 'redis://x', 'gate.rateLimitPerSec': '50' }, owned)).toEqual([
      'gate.drainMs: set by the operator from spec.gate.drainSeconds; remove it from spec.config',
      'redis.url: set by the operator from spec.dependencies.redis; remove it from spec.config',
    ]);
    // A dependency the cluster does not configure is the roles' own setting.
    expect(specConfigProblems({ 'minio.endPoint': 'minio.example:9000' }, owned)).toEqual([]);
  });

  it('refuses the ops port and the certificate files, with or without spec.tls: the operator sets them', () => {
    for (const c of [cluster(), cluster({ tls: { secretName: 'chat-tls', roles: ['gate'] } })]) {
      expect(
        specConfigProblems(
          { 'http.opsPort': '9999', 'tls.certFile': '/x.crt', 'tls.keyFile': '/x.key', 'http.port': '1' },
          operatorSettings(c),
        ),
      ).toEqual([
        'http.opsPort: set by the operator from the container port 9090 (ops: metrics, the admin API, probes); remove it from spec.config',
        'http.port: set by the operator from the container port 8080; remove it from spec.config',
        'tls.certFile: set by the operator from spec.tls.secretName (the Secret it mounts); remove it from spec.config',
        'tls.keyFile: set by the operator from spec.tls.secretName (the Secret it mounts); remove it from spec.config',
      ]);
    }
    // How often the mounted files are checked is the roles' own setting.
    expect(specConfigProblems({ 'tls.reloadMs': '5000', 'http.maxConnections': '20000' }, operatorSettings(cluster()))).toEqual([]);
  });

  it('does not take inherited object properties for settings', () => {
    expect(specConfigProblems({ 'gate.constructor': '1', 'toString.x': '1', '__proto__.x': '1', 'gate.__proto__': '1' })).toHaveLength(4);
  });

  it('takes a setting that moved to a shared section by either name, and refuses the track under both (the operator sets it)', () => {
    const owned = operatorSettings(cluster());
    expect(
      specConfigProblems({ 'gate.heartbeatIntervalMs': '20000', 'heartbeat.idleTimeoutMs': '60000', 'rabbitmq.prefetch': '128' }, owned),
    ).toEqual([]);
    expect(specConfigProblems({ 'gate.track': 'canary', 'node.track': 'canary' }, owned)).toEqual([
      'gate.track: set by the operator from the gray release (spec.gray); remove it from spec.config',
      'node.track: set by the operator from the gray release (spec.gray); remove it from spec.config',
    ]);
    expect(specConfigProblems({ 'gate.heartbeatIntervalMs': '20000', 'heartbeat.intervalMs': '25000' }, owned)).toEqual([
      'heartbeat.intervalMs: set both as heartbeat.intervalMs and as gate.heartbeatIntervalMs (its old name), to different values; keep one',
    ]);
  });
});
