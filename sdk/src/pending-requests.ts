// Requests waiting for their answer, by reqId. The answer (or an Error frame naming that reqId)
// settles one; its deadline fails it with SDK_TIMEOUT; a lost connection fails them all.
import { ImClientError } from './client-error.js';

interface Waiting<T> {
  resolve: (answer: T) => void;
  reject: (err: ImClientError) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class PendingRequests<T> {
  private readonly waiting = new Map<number, Waiting<T>>();

  get size(): number {
    return this.waiting.size;
  }

  /** Waits for the answer to `reqId` until `deadline` (ms since epoch); `what` names the request in the timeout error. */
  wait(reqId: number, deadline: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => {
          this.waiting.delete(reqId);
          reject(new ImClientError('SDK_TIMEOUT', `no answer to ${what} in time`));
        },
        Math.max(0, deadline - Date.now()),
      );
      this.waiting.set(reqId, { resolve, reject, timer });
    });
  }

  /** Settles the request with its answer; false when nothing waits for `reqId`. */
  resolve(reqId: number, answer: T): boolean {
    const w = this.take(reqId);
    w?.resolve(answer);
    return w !== undefined;
  }

  /** Fails the request; false when nothing waits for `reqId`. */
  reject(reqId: number, err: ImClientError): boolean {
    const w = this.take(reqId);
    w?.reject(err);
    return w !== undefined;
  }

  rejectAll(err: ImClientError): void {
    for (const reqId of [...this.waiting.keys()]) this.reject(reqId, err);
  }

  private take(reqId: number): Waiting<T> | undefined {
    const w = this.waiting.get(reqId);
    if (!w) return undefined;
    this.waiting.delete(reqId);
    clearTimeout(w.timer);
    return w;
  }
}
