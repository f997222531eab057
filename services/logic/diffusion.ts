// Write or read diffusion per group, by size, with hysteresis (ADR 0030). Both keep a group's
// messages once per conversation and its max seq once; they differ in what a message writes:
// write diffusion touches every member's conversation index (and names them in the store
// record, so the durable copy is written per member too), read diffusion only the sender's.
// Members' indexes list the group from their join on in both, so a switch changes no read.

import type { Diffusion } from '../ports/group-directory.js';
import type { LogicContext } from './logic-context.js';

/** A group in read diffusion goes back to write only at or below this share of the threshold. */
export const BACK_TO_WRITE_SHARE = 0.8;

/** The app's write-diffusion threshold (members). */
export async function writeDiffusionMax(cx: LogicContext, appId: string): Promise<number> {
  const app = await cx.apps.get(appId);
  return app?.limits?.groupWriteDiffusionMax ?? cx.config.logic.groupWriteDiffusionMax;
}

/** The mode a group of `members` should be in, coming from `current`. */
export function nextDiffusion(current: Diffusion, members: number, threshold: number): Diffusion {
  if (current === 'write') return members > threshold ? 'read' : 'write';
  return members <= Math.floor(threshold * BACK_TO_WRITE_SHARE) ? 'write' : 'read';
}
