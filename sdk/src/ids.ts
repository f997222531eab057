// Random ids from crypto.getRandomValues, which (unlike crypto.randomUUID) browsers also offer
// on plain-http pages, and Node 20 has as a global.

function randomHex(bytes: number): string {
  const buf = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(buf);
  let out = '';
  for (const b of buf) out += b.toString(16).padStart(2, '0');
  return out;
}

/** A clientMsgId: 128 random bits, 32 hex characters (the server accepts 1–64 printable ASCII). */
export function newClientMsgId(): string {
  return randomHex(16);
}

/** A device id for an installation that has none yet; persist it and pass it back next time. */
export function newDeviceId(): string {
  return `dev-${randomHex(12)}`;
}

/** A group id for a group the app creates without naming one: 96 random bits. */
export function newGroupId(): string {
  return `grp-${randomHex(12)}`;
}
