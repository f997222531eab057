// The one way the tests that run streams of sends through failures count them (the chaos test,
// the real node's streams): every acked send against the stored rows and against what each device
// that must hold it saw. lost: acked but not stored, or missing on a device that must hold it;
// duplicated: stored twice by seq or by clientMsgId, or seen twice by a device; reordered: a device
// saw a seq after a higher one of the same conversation.

/** A message as identified everywhere: its conversation, seq and the sender's clientMsgId. */
export interface MessageKey {
  conversation: string;
  seq: number;
  clientMsgId: string;
}

export interface CountedDevice {
  deviceId: string;
  received: readonly MessageKey[];
}

export interface StoredRow extends MessageKey {
  sender: string;
}

export interface DeliveryCount {
  lost: number;
  duplicated: number;
  reordered: number;
  /** One line per fault found (all of them; callers cut). */
  details: string[];
}

export function countDeliveries<S extends MessageKey, D extends CountedDevice>(args: {
  /** The acked sends. */
  sent: readonly S[];
  /** The devices that must hold a send. */
  targets(s: S): readonly D[];
  /** Every device, for duplicates and order. */
  devices: readonly D[];
  rows: readonly StoredRow[];
  /** What to add to a "not delivered" line (e.g. what the device was told it skipped). */
  whyMissing?(d: D, s: S): string;
}): DeliveryCount {
  const details: string[] = [];
  const stored = tally(args.rows.map((r) => `${r.conversation}#${r.seq}`));
  const storedById = tally(args.rows.map((r) => `${r.sender}#${r.clientMsgId}`));
  let lost = 0;
  for (const s of args.sent) {
    if (!stored.has(`${s.conversation}#${s.seq}`)) {
      lost++;
      details.push(`not stored: ${s.conversation}#${s.seq} (${s.clientMsgId})`);
    }
    for (const d of args.targets(s))
      if (!d.received.some((m) => m.conversation === s.conversation && m.seq === s.seq && m.clientMsgId === s.clientMsgId)) {
        lost++;
        details.push(`not delivered to ${d.deviceId}: ${s.conversation}#${s.seq}${args.whyMissing?.(d, s) ?? ''}`);
      }
  }
  let duplicated = 0;
  for (const [key, n] of [...stored, ...storedById])
    if (n > 1) {
      duplicated += n - 1;
      details.push(`stored ${n} times: ${key}`);
    }
  let reordered = 0;
  for (const d of args.devices) {
    const seen = new Set<string>();
    const last = new Map<string, number>();
    for (const m of d.received) {
      const key = `${m.conversation}#${m.seq}`;
      if (seen.has(key)) {
        duplicated++;
        details.push(`${d.deviceId} saw ${key} twice`);
      }
      seen.add(key);
      if ((last.get(m.conversation) ?? 0) >= m.seq) {
        reordered++;
        details.push(`${d.deviceId} saw ${key} after seq ${last.get(m.conversation)}`);
      }
      last.set(m.conversation, Math.max(last.get(m.conversation) ?? 0, m.seq));
    }
  }
  return { lost, duplicated, reordered, details };
}

function tally(keys: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
  return counts;
}
