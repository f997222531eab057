import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { testCa } from '../test/support/certificates.js';
import { tlsSecretProblem } from './tls.js';

const ca = testCa();
afterAll(() => ca.remove());
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

describe('tlsSecretProblem', () => {
  const one = ca.issue('one');
  const two = ca.issue('two');
  const pair = (cert: string, key: string) => ({
    data: { 'tls.crt': b64(readFileSync(cert, 'utf8')), 'tls.key': b64(readFileSync(key, 'utf8')) },
  });

  it('accepts a certificate and its key', () => {
    expect(tlsSecretProblem('chat-tls', pair(one.certFile, one.keyFile))).toBeUndefined();
  });

  it('names a missing Secret, missing keys, and a pair the processes could not serve', () => {
    expect(tlsSecretProblem('chat-tls', null)).toBe('tls: Secret chat-tls not found');
    expect(tlsSecretProblem('chat-tls', { data: { 'tls.crt': b64('x') } })).toBe(
      'tls: Secret chat-tls lacks key(s) tls.key (a Secret of type kubernetes.io/tls has tls.crt and tls.key)',
    );
    expect(tlsSecretProblem('chat-tls', {})).toContain('lacks key(s) tls.crt, tls.key');
    expect(tlsSecretProblem('chat-tls', pair(one.certFile, two.keyFile))).toMatch(
      /^tls: Secret chat-tls: tls\.crt and tls\.key are not a usable certificate and key \(.+\)$/,
    );
    expect(tlsSecretProblem('chat-tls', { data: { 'tls.crt': b64('not a certificate'), 'tls.key': b64('nor a key') } })).toMatch(
      /not a usable certificate and key/,
    );
  });
});
