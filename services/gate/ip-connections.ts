// Open connections per client address at one gate, so that one host (or one address behind a
// NAT) cannot hold every socket the process has. Entries exist only while connections do.
export class IpConnections {
  private readonly open = new Map<string, number>();

  constructor(private readonly maxPerIp: number) {}

  /** Counts a new connection from `ip`; false (and nothing counted) when it is at its limit. */
  acquire(ip: string): boolean {
    const n = this.open.get(ip) ?? 0;
    if (n >= this.maxPerIp) return false;
    this.open.set(ip, n + 1);
    return true;
  }

  release(ip: string): void {
    const n = this.open.get(ip) ?? 0;
    if (n <= 1) this.open.delete(ip);
    else this.open.set(ip, n - 1);
  }

  get addresses(): number {
    return this.open.size;
  }
}
