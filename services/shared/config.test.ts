import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { compileConfig, envName, loadConfig } from './config.js';
import { ImError } from '../../protocol/errors.js';

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
    expect(err.message).toContain('gate.track (env IMCLOUD_GATE_TRACK)');
    expect(() => compileConfig({ gate: { nope: 1 } as never })).toThrow(/unknown key\(s\) nope/);
  });

  it('bounds the consumer linger so that a record reaches the store while the recent window still holds it', () => {
    expect(loadConfig({ IMCLOUD_CONSUMER_LINGER_MS: '10000' }).consumer.lingerMs).toBe(10_000);
    expect(() => loadConfig({ IMCLOUD_CONSUMER_LINGER_MS: '10001' })).toThrow(/consumer\.lingerMs \(env IMCLOUD_CONSUMER_LINGER_MS\).*<=10000/);
    expect(() => loadConfig({ IMCLOUD_CONSUMER_LINGER_MS: '-1' })).toThrow(/consumer\.lingerMs/);
  });
});
