// A counting semaphore: at most `limit` holders; the others wait in arrival order. Bounds the
// webhook deliveries in flight, per app and per process.
export class Semaphore {
  private holders = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async acquire(): Promise<void> {
    if (this.holders < this.limit) {
      this.holders += 1;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    // The slot passes straight to the next waiter: nobody can jump the queue meanwhile.
    if (next) next();
    else this.holders -= 1;
  }

  get inUse(): number {
    return this.holders;
  }
}
