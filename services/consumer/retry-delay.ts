// The wait before a webhook event's next attempt: exponential from `baseMs`, capped at `maxMs`,
// with jitter (the upper half of the interval is drawn) so that the events of many
// conversations held by one failing endpoint do not all come back in the same instant.

/** The delay after failed attempt number `attempt` (1 for the first). */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  const ceiling = Math.min(maxMs, baseMs * 2 ** exponent);
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}
