import { describe, expect, it } from 'vitest';
import { IpConnections } from './ip-connections.js';

describe('IpConnections', () => {
  it('admits up to the limit per address, frees a slot on release, and forgets idle addresses', () => {
    const ips = new IpConnections(2);
    expect([ips.acquire('10.0.0.1'), ips.acquire('10.0.0.1'), ips.acquire('10.0.0.1')]).toEqual([true, true, false]);
    expect(ips.acquire('10.0.0.2')).toBe(true);
    ips.release('10.0.0.1');
    expect(ips.acquire('10.0.0.1')).toBe(true);
    ips.release('10.0.0.1');
    ips.release('10.0.0.1');
    ips.release('10.0.0.2');
    expect(ips.addresses).toBe(0);
  });
});
