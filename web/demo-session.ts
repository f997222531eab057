// The demo page's session helpers: JSON from the embedded platform's demo endpoints, and the
// device id of this browser profile (one device per profile, one tab at a time holding it).
import { newDeviceId } from '../sdk/src/index.js';

export async function fetchJson<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, init);
  const body = (await res.json().catch(() => ({}))) as T & { error?: { code: string; message: string } };
  if (!res.ok) throw new Error(body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${res.status}`);
  return body;
}

/**
 * The browser profile is one device: its id lives in localStorage, so a reloaded tab resumes
 * from its stored cursors. Only one tab at a time may use it (a Web Lock held for the tab's
 * life); a second tab of the same user gets an id of its own, because two connections with one
 * device id displace each other.
 */
export async function deviceIdFor(userId: string): Promise<string> {
  const key = `imcloud.demo.device.${userId}`;
  let id = localStorage.getItem(key);
  if (!id) {
    id = newDeviceId();
    localStorage.setItem(key, id);
  }
  if (!navigator.locks) return id;
  const held = await new Promise<boolean>((resolve) => {
    void navigator.locks.request(`imcloud-device:${id}`, { ifAvailable: true }, (lock) => {
      resolve(lock !== null);
      // Hold it until the tab goes away.
      return lock ? new Promise<void>(() => undefined) : undefined;
    });
  });
  if (held) return id;
  let tabId = sessionStorage.getItem(key);
  if (!tabId) {
    tabId = newDeviceId();
    sessionStorage.setItem(key, tabId);
  }
  return tabId;
}
