// Serves the apps whose requests wait in a logic process in turn, one request per app per round,
// so that an app with a long queue does not make the others wait behind it. Each app may hold
// its fair share of the waiting room (maxQueued over the apps waiting and one more, at least
// minPerApp); a
// request beyond its app's share is refused at once, cheaply, instead of waiting to be shed.
// The bus hands logic up to maxInFlight + maxQueued requests (its prefetch), so the broker's
// own first-come order decides little: what is in logic is served fairly. ADR 0024.

export interface FairSchedulerOptions<T> {
  /** Requests handled at once. */
  maxInFlight: number;
  /** Requests waiting, over every app. */
  maxQueued: number;
  /** An app's share is never below this, however many apps wait. */
  minPerApp: number;
  run: (item: T) => Promise<void>;
  /** A request its app had no room for; answered at once. */
  refuse: (item: T) => void;
}

interface Waiting<T> {
  item: T;
  settle: (handled: Promise<void>) => void;
}

export class FairScheduler<T> {
  private readonly queues = new Map<string, Array<Waiting<T>>>();
  /** Apps with waiting requests, in the order they are served next. */
  private readonly turn: string[] = [];
  private running = 0;
  private queued = 0;

  constructor(private readonly opts: FairSchedulerOptions<T>) {}

  /**
   * Resolves once the request has been handled or refused (the bus then acknowledges it); rejects
   * when handling it failed (the bus then delivers it again).
   */
  submit(key: string, item: T): Promise<void> {
    if (this.running < this.opts.maxInFlight && this.queued === 0) return this.start(item);
    let queue = this.queues.get(key);
    if ((queue?.length ?? 0) >= this.share(queue ? 0 : 1)) {
      this.opts.refuse(item);
      return Promise.resolve();
    }
    if (!queue) {
      queue = [];
      this.queues.set(key, queue);
      this.turn.push(key);
    }
    const q = queue;
    this.queued += 1;
    return new Promise<void>((resolve, reject) => {
      q.push({ item, settle: (handled) => handled.then(resolve, reject) });
      this.pump();
    });
  }

  get waiting(): number {
    return this.queued;
  }

  get inFlight(): number {
    return this.running;
  }

  /**
   * An app's room in the waiting room, counting `joining` apps that are about to wait too. One
   * share is always kept free for an app that is not waiting yet: if the apps that wait could
   * fill the room, logic would stop taking from the bus, and a newcomer's request would queue in
   * the bus behind theirs.
   */
  private share(joining: number): number {
    const apps = this.queues.size + joining;
    return Math.max(this.opts.minPerApp, Math.floor(this.opts.maxQueued / (apps + 1)));
  }

  private start(item: T): Promise<void> {
    this.running += 1;
    const handled = this.opts.run(item);
    const next = () => {
      this.running -= 1;
      this.pump();
    };
    handled.then(next, next);
    return handled;
  }

  private pump(): void {
    while (this.running < this.opts.maxInFlight && this.turn.length > 0) {
      const key = this.turn.shift()!;
      const queue = this.queues.get(key)!;
      const next = queue.shift()!;
      this.queued -= 1;
      if (queue.length > 0) this.turn.push(key);
      else this.queues.delete(key);
      next.settle(this.start(next.item));
    }
  }
}
