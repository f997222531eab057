import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { TlsFiles } from './tls-files.js';

const dir = mkdtempSync(join(tmpdir(), 'imcloud-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function selfSigned(name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

describe('TlsFiles', () => {
  it('serves a renewed pair once both files hold it, and keeps the old one while they do not match', () => {
    const first = selfSigned('first');
    const second = selfSigned('second');
    const certFile = join(dir, 'tls.crt');
    const keyFile = join(dir, 'tls.key');
    writeFileSync(certFile, first.cert);
    writeFileSync(keyFile, first.key);
    const files = new TlsFiles(certFile, keyFile, createLogger('test', 'test', 'silent'));
    const seen: string[] = [];
    files.onChange((m) => seen.push(m.cert));
    expect(files.poll()).toBe(false);
    // Half-way through a renewal (new certificate, old key): not usable, nothing changes.
    writeFileSync(certFile, second.cert);
    expect(files.poll()).toBe(false);
    expect(files.current().cert).toBe(first.cert);
    writeFileSync(keyFile, second.key);
    expect(files.poll()).toBe(true);
    expect(files.current()).toEqual(second);
    expect(seen).toEqual([second.cert]);
  });

  it('refuses to start on files it cannot read, naming them', () => {
    expect(() => new TlsFiles(join(dir, 'missing.crt'), join(dir, 'missing.key'), createLogger('test', 'test', 'silent'))).toThrow(
      /missing\.crt/,
    );
  });
});
