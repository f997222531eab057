// A send draws its seq with its dedupe claim (ADR 0014), and the app's rate limit is asked in
// the same step. A drawn seq cannot be handed back without a gap that receivers would wait on
// (ADR 0004), so a send that drew one goes through even when the limit refused it. To keep the
// limit exact, an app whose send was refused here claims without drawing for a while: only the
// sends already in flight when the limit is reached get through.

/** How long an app's sends claim without drawing a seq after the limit refused one. */
export const RATE_LIMIT_HOLD_MS = 1_000;

export class RateLimitHold {
  /** Apps whose rate limit refused a send here lately → until when their sends do not draw. */
  private readonly held = new Map<string, number>();

  /** Whether the app's sends may draw their seq with the claim now. */
  mayDraw(appId: string, now: number): boolean {
    return (this.held.get(appId) ?? 0) <= now;
  }

  /** Takes note of the limit's answer to one of the app's sends. */
  note(appId: string, allowed: boolean, now: number): void {
    if (!allowed) this.held.set(appId, now + RATE_LIMIT_HOLD_MS);
    else if (this.held.size > 0 && (this.held.get(appId) ?? Infinity) <= now) this.held.delete(appId);
  }
}
