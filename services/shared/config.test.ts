import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { ImError } from '../../protocol/errors.js';
import { compileConfig, configProblems, envName, MOVED_KEYS } from './config.js';
import { loadConfig } from './config-sources.js';
import { ROLE_SECTIONS, roleConfig } from './role-config.js';

describe('config', () => {
  it('applies defaults and freezes the result', () => {
    const c = compileConfig({});
    expect(c.http.port).toBe(8080);
    expect(c.gate.appIds).toEqual([]);
    expect(Object.isFrozen(c.gate)).toBe(true);
  });

  it('maps every key to IMCLOUD_SECTION_KEY and coerces env strings', () => {
    expect(envName('gate', 'tcpPort')).toBe('IMCLOUD_GATE_TCP_PORT');
    const c = loadConfig({ IMCLOUD_GATE_TCP_PORT: '9100', IMCLOUD_GATE_APP_IDS: 'a1, b2', IMCLOUD_WEB_ENABLED: 'true' });
    expect(c.gate.tcpPort).toBe(9100);
    expect(c.gate.appIds).toEqual(['a1', 'b2']);
    expect(c.web.enabled).toBe(true);
  });

  it('reads *_FILE variables (mounted Secrets), file < env, and role defaults lowest', () => {
    const dir = mkdtempSync(join(tmpdir(), 'imcloud-config-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'url'), 'redis://10.0.0.1:6379\n');
    writeFileSync(join(dir, 'config.yaml'), 'http:\n  port: 9000\nlog:\n  level: debug\n');
    const c = loadConfig(
      { IMCLOUD_REDIS_URL_FILE: join(dir, 'url'), IMCLOUD_CONFIG: join(dir, 'config.yaml'), IMCLOUD_LOG_LEVEL: 'warn' },
      { http: { port: 1234, host: '127.0.0.1' } },
    );
    expect(c.redis.url).toBe('redis://10.0.0.1:6379');
    expect(c.http.port).toBe(9000);
    expect(c.http.host).toBe('127.0.0.1');
    expect(c.log.level).toBe('warn');
  });

  it('fails with IM_CONFIG_INVALID naming the key, its env variable and what is expected', () => {
    const err = (() => {
      try {
        loadConfig({ IMCLOUD_HTTP_PORT: 'eighty', IMCLOUD_GATE_TRACK: 'beta' });
      } catch (e) {
        return e as ImError;
      }
      throw new Error('no error');
    })();
    expect(err.code).toBe('IM_CONFIG_INVALID');
    expect(err.message).toContain('http.port (env IMCLOUD_HTTP_PORT)');
    expect(err.message).toContain('node.track (env IMCLOUD_NODE_TRACK or IMCLOUD_GATE_TRACK)');
    expect(() => compileConfig({ gate: { nope: 1 } as never })).toThrow(/unknown key\(s\) nope/);
  });

  it('bounds the consumer linger so that a record reaches the store while the recent window still holds it', () => {
    expect(loadConfig({ IMCLOUD_CONSUMER_LINGER_MS: '10000' }).consumer.lingerMs).toBe(10_000);
    expect(() => loadConfig({ IMCLOUD_CONSUMER_LINGER_MS: '10001' })).toThrow(
      /consumer\.lingerMs \(env IMCLOUD_CONSUMER_LINGER_MS\).*<=10000/,
    );
    expect(() => loadConfig({ IMCLOUD_CONSUMER_LINGER_MS: '-1' })).toThrow(/consumer\.lingerMs/);
  });

  it('reads a setting that moved to a shared section by its old name too: env, _FILE and the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'imcloud-config-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'prefetch'), '64\n');
    writeFileSync(join(dir, 'config.yaml'), 'gate:\n  heartbeatIntervalMs: 5000\n  idleTimeoutMs: 12000\n');
    const c = loadConfig({
      IMCLOUD_GATE_TRACK: 'canary',
      IMCLOUD_RABBITMQ_PREFETCH_FILE: join(dir, 'prefetch'),
      IMCLOUD_CONFIG: join(dir, 'config.yaml'),
    });
    expect([c.node.track, c.bus.prefetch, c.heartbeat.intervalMs, c.heartbeat.idleTimeoutMs]).toEqual(['canary', 64, 5000, 12_000]);
    // Later layers win whichever name they use; the new name alone works as well.
    expect(loadConfig({ IMCLOUD_CONFIG: join(dir, 'config.yaml'), IMCLOUD_HEARTBEAT_INTERVAL_MS: '7000' }).heartbeat.intervalMs).toBe(7000);
    expect(compileConfig({ heartbeat: { intervalMs: 9000 } }, { gate: { heartbeatIntervalMs: 8000 } } as never).heartbeat.intervalMs).toBe(
      8000,
    );
    expect(Object.keys(MOVED_KEYS).sort()).toEqual(['gate.heartbeatIntervalMs', 'gate.idleTimeoutMs', 'gate.track', 'rabbitmq.prefetch']);
  });

  it('refuses a moved setting given both names with different values, and takes the same value twice', () => {
    expect(loadConfig({ IMCLOUD_GATE_TRACK: 'canary', IMCLOUD_NODE_TRACK: 'canary' }).node.track).toBe('canary');
    expect(configProblems({ node: { track: 'stable' }, gate: { track: 'canary' } } as never)).toEqual([
      {
        path: 'node.track',
        env: 'IMCLOUD_NODE_TRACK or IMCLOUD_GATE_TRACK',
        message: 'set both as node.track and as gate.track (its old name), to different values; keep one',
      },
    ]);
    expect(() => loadConfig({ IMCLOUD_GATE_IDLE_TIMEOUT_MS: '1000', IMCLOUD_HEARTBEAT_IDLE_TIMEOUT_MS: '2000' })).toThrow(
      /heartbeat\.idleTimeoutMs.*gate\.idleTimeoutMs \(its old name\)/,
    );
  });

  it('gives each role its own section and the shared ones it reads, and nothing else', () => {
    const c = compileConfig({ gate: { pool: 'vip' }, heartbeat: { intervalMs: 1000 } });
    const gate = roleConfig(c, 'gate');
    expect(Object.keys(gate).sort()).toEqual(['gate', 'heartbeat', 'node', 'routing']);
    expect(gate.gate.pool).toBe('vip');
    expect(Object.isFrozen(gate)).toBe(true);
    expect(Object.keys(roleConfig(c, 'logic')).sort()).toEqual(['heartbeat', 'logic', 'node', 'webhooks']);
    expect(Object.keys(roleConfig(c, 'consumer')).sort()).toEqual(['bus', 'consumer', 'webhooks']);
    expect(Object.keys(roleConfig(c, 'dispatch')).sort()).toEqual(['dispatch', 'heartbeat', 'routing']);
    // No role reads another role's section or a backend's.
    const roles = ['gate', 'logic', 'consumer', 'dispatch', 'admin'];
    for (const [role, sections] of Object.entries(ROLE_SECTIONS)) {
      expect(
        sections.filter((s) => s !== role && (roles.includes(s) || ['redis', 'rabbitmq', 'mongodb', 'minio'].includes(s))),
        role,
      ).toEqual([]);
    }
  });
});
