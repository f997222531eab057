// Kubernetes Events about ImClusters (core/v1, what `kubectl describe imc` shows). Repeats of the
// same reason and message within 10 minutes bump the count of one Event instead of creating more.
import { randomBytes } from 'node:crypto';
import type { KubeClient, KubeObject } from './kube/client.js';
import { isNotFound, R } from './kube/client.js';

export type EventType = 'Normal' | 'Warning';

const REPEAT_WINDOW_MS = 10 * 60_000;

export class EventRecorder {
  private readonly recent = new Map<string, { name: string; namespace: string; count: number; at: number }>();

  constructor(
    private readonly kube: KubeClient,
    private readonly component: string,
    private readonly instance: string,
    private readonly log?: { warn(o: object, m: string): void },
  ) {}

  /** Records an event; never throws (events are best effort). */
  async record(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const namespace = obj.metadata.namespace ?? 'default';
    const key = `${obj.metadata.uid}|${type}|${reason}|${message}`;
    const now = Date.now();
    const nowIso = new Date(now).toISOString();
    try {
      const seen = this.recent.get(key);
      if (seen && now - seen.at < REPEAT_WINDOW_MS) {
        seen.count++;
        seen.at = now;
        try {
          await this.kube.patch(R.events, seen.namespace, seen.name, { count: seen.count, lastTimestamp: nowIso });
          return;
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
      const name = `${obj.metadata.name}.${now.toString(16)}${randomBytes(2).toString('hex')}`;
      await this.kube.create(R.events, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: obj.metadata.name,
          namespace,
          uid: obj.metadata.uid,
          resourceVersion: obj.metadata.resourceVersion,
        },
        type,
        reason,
        message: message.slice(0, 1024),
        count: 1,
        firstTimestamp: nowIso,
        lastTimestamp: nowIso,
        source: { component: this.component },
        reportingComponent: this.component,
        reportingInstance: this.instance.slice(0, 128),
      });
      this.recent.set(key, { name, namespace, count: 1, at: now });
      if (this.recent.size > 2000) {
        for (const [k, v] of this.recent) if (now - v.at > REPEAT_WINDOW_MS) this.recent.delete(k);
      }
    } catch (err) {
      this.log?.warn({ reason, err: String(err) }, 'could not record an event');
    }
  }
}
