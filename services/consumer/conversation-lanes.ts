// Order per conversation (ADR 0037): the webhook events of one conversation are delivered one
// after another, each once the one before it was delivered or dead-lettered; the conversations
// of an app proceed side by side. A lane lives while it has work, so the lanes never outnumber
// the events held.
export class ConversationLanes {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `task` after every task given earlier for `key` has settled; settles as `task` does. */
  run(key: string, task: () => Promise<void>): Promise<void> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const result = before.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Conversations with an event waiting or in delivery. */
  get size(): number {
    return this.tails.size;
  }
}
