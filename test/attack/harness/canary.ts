// Canaries: every message body the attack suite sends names the tenant it was sent for,
// `canary|<appId>|<label>`, or `canary|-unauthenticated-|<label>` when the connection that sent
// it had not been authenticated (or claimed a forged identity). Every client the harness opens
// is tracked; after each attack the harness scans everything they received. A client that sees
// another tenant's canary, or any unauthenticated one, or a message stored under no identity, is
// a cross-tenant leak.
import type { imcloud } from '../../../protocol/gen/im.js';

export const UNAUTHENTICATED = '-unauthenticated-';
const PREFIX = 'canary|';

let serial = 0;

/** A body that names its tenant. */
export function canary(tenant: string, label: string): Uint8Array {
  serial += 1;
  return new TextEncoder().encode(`${PREFIX}${tenant}|${label}|${process.pid}-${serial}`);
}

/** The tenant a canary body names, or undefined for other bodies. */
export function canaryTenant(body: Uint8Array | null | undefined): string | undefined {
  if (!body || body.length < PREFIX.length) return undefined;
  const text = new TextDecoder().decode(body);
  if (!text.startsWith(PREFIX)) return undefined;
  return text.slice(PREFIX.length).split('|')[0];
}

export function bodyText(body: Uint8Array | null | undefined): string {
  return new TextDecoder().decode(body ?? new Uint8Array());
}

/**
 * What the checks here need of a client. client.ts's AttackClient is one; naming the shape here
 * rather than importing AttackClient keeps canary.ts and client.ts (which calls track()) out of
 * an import circle.
 */
export interface TrackedClient {
  readonly tenant: string;
  messages(): imcloud.v1.IMessage[];
  /** Leaks found in what it received other than messages (an HTTP client's answers: files.ts). */
  otherLeaks?(): Leak[];
  close(): void;
}

let tracked = new Set<TrackedClient>();

/** Called by every AttackClient when it is created. */
export function track(client: TrackedClient): void {
  tracked.add(client);
}

/** The clients opened since the last call (and stops tracking them). */
export function takeTracked(): TrackedClient[] {
  const out = [...tracked];
  tracked = new Set();
  return out;
}

export interface Leak {
  tenant: string;
  saw: string;
  conversation: string;
  sender: string;
}

/** What `client` received that its tenant must never see. */
export function leaksSeenBy(client: TrackedClient): Leak[] {
  const out: Leak[] = [...(client.otherLeaks?.() ?? [])];
  for (const m of client.messages()) {
    const tag = canaryTenant(m.body);
    const conversation = m.conversation ?? '';
    const sender = m.sender ?? '';
    // A message without a sender, or in a conversation with an empty member, was stored under
    // no identity: only a frame forwarded before authentication can do that.
    const anonymous = !m.empty && (sender === '' || conversation.startsWith('s::') || conversation.endsWith(':'));
    if (anonymous || tag === UNAUTHENTICATED || (tag !== undefined && tag !== client.tenant)) {
      out.push({
        tenant: client.tenant,
        saw: bodyText(m.body).slice(0, 120),
        conversation: conversation.slice(0, 120),
        sender: sender.slice(0, 64),
      });
    }
  }
  return out;
}

/** The tenants of every canary in some bytes (an HTTP answer, a downloaded file). */
export function canaryTenantsIn(bytes: Uint8Array): string[] {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  const out: string[] = [];
  for (let at = text.indexOf(PREFIX); at >= 0; at = text.indexOf(PREFIX, at + PREFIX.length)) {
    const end = text.indexOf('|', at + PREFIX.length);
    if (end > at) out.push(text.slice(at + PREFIX.length, end));
  }
  return out;
}

export function describeLeaks(leaks: Leak[]): string {
  return (
    leaks
      .slice(0, 5)
      .map(
        (l) => `a client of tenant "${l.tenant || '(none)'}" received "${l.saw}" (conversation "${l.conversation}", sender "${l.sender}")`,
      )
      .join('; ') + (leaks.length > 5 ? ` … and ${leaks.length - 5} more` : '')
  );
}
