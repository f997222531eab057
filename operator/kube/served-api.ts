// Whether the apiserver serves an API (a CRD such as the Prometheus operator's ServiceMonitor),
// asked at most once a minute: every reconcile wants to know, and a minute is soon enough to
// notice the CRD being installed or removed. When asking fails, the last answer stands (false
// before the first).
import type { KubeClient, Resource } from './client.js';

export class ServedApi {
  private last: { value: boolean; at: number } | undefined;

  constructor(
    private readonly kube: Pick<KubeClient, 'serves'>,
    private readonly api: Pick<Resource, 'group' | 'version' | 'plural'>,
    private readonly maxAgeMs = 60_000,
  ) {}

  async served(now = Date.now()): Promise<boolean> {
    if (this.last && now - this.last.at < this.maxAgeMs) return this.last.value;
    try {
      const value = await this.kube.serves(this.api.group, this.api.version, this.api.plural);
      this.last = { value, at: now };
      return value;
    } catch {
      return this.last?.value ?? false;
    }
  }
}
