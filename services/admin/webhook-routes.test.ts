import { describe, expect, it } from 'vitest';
import { ImError } from '../../protocol/errors.js';
import { checkWebhookUrl } from './webhook-routes.js';

function refusal(url: string, allowedHosts: string, allowHttp = true): string {
  try {
    checkWebhookUrl(url, { allowedHosts, allowHttp });
  } catch (err) {
    expect(err).toBeInstanceOf(ImError);
    expect((err as ImError).code).toBe('IM_ADMIN_INVALID');
    return (err as ImError).message;
  }
  return 'accepted';
}

describe('checkWebhookUrl', () => {
  it('accepts hosts the platform lists, exactly or as subdomains of a *. pattern, and nothing else', () => {
    const allowed = 'hooks.example.com, *.tenant.io';
    expect(refusal('https://hooks.example.com/im', allowed)).toBe('accepted');
    expect(refusal('https://HOOKS.example.com:8443/im', allowed)).toBe('accepted');
    expect(refusal('https://a.b.tenant.io/x', allowed)).toBe('accepted');
    expect(refusal('https://tenant.io/x', allowed)).toContain('not among');
    expect(refusal('https://eviltenant.io/x', allowed)).toContain('not among');
    expect(refusal('https://hooks.example.com.evil.net/x', allowed)).toContain('not among');
    expect(refusal('http://127.0.0.1:9/x', allowed)).toContain('not among');
    expect(refusal('http://169.254.169.254/latest/meta-data', '*')).toBe('accepted');
  });

  it('refuses other schemes, plain http when the platform does, credentials and what is not a URL', () => {
    expect(refusal('ftp://hooks.example.com/x', '*')).toContain('scheme');
    expect(refusal('file:///etc/passwd', '*')).toContain('scheme');
    expect(refusal('http://hooks.example.com/x', '*', false)).toContain('scheme must be https:');
    expect(refusal('https://u:p@hooks.example.com/x', '*')).toContain('credentials');
    expect(refusal('/relative', '*')).toContain('absolute');
  });
});
