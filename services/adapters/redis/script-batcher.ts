// Runs the calls of one Lua script made in the same event-loop turn as ONE script call per hash
// slot. Under load each send runs several scripts; ioredis already writes a turn's commands in
// one pipeline, but every command still costs a Command object, a promise and a reply on the
// client and a script invocation on the server. Batched (a TurnBatcher whose turn ends where
// ioredis's pipeline does), a turn's claims (or appends, …) cost one of each. Each call still
// runs on its own, atomically, inside a pcall: one call's error is that caller's alone. A call
// alone in its turn runs the plain script.

import { TurnBatcher } from '../../shared/turn-batcher.js';

/** Runs a script (or its batch form) with these keys and args. */
export type ScriptRun = (keys: string[], args: Array<string | number | Buffer>) => Promise<unknown>;

interface Call {
  keys: string[];
  args: Array<string | number | Buffer>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * The batch form of a script: ARGV = count, then per call its key count, arg count and args;
 * KEYS = every call's keys in order. Returns per call {1, result} or {0, error message}.
 */
export function batchedLua(lua: string): string {
  return `
local function one(KEYS, ARGV)
${lua}
end
local out = {}
local k = 1
local a = 2
for i = 1, tonumber(ARGV[1]) do
  local nk = tonumber(ARGV[a])
  local na = tonumber(ARGV[a + 1])
  a = a + 2
  local keys = {}
  for j = 1, nk do keys[j] = KEYS[k]; k = k + 1 end
  local args = {}
  for j = 1, na do args[j] = ARGV[a]; a = a + 1 end
  local ok, res = pcall(one, keys, args)
  if ok then
    out[i] = {1, res}
  else
    out[i] = {0, type(res) == 'table' and (res.err or 'script error') or tostring(res)}
  end
end
return out`;
}

/** The hash slot's tag of a key ({…} as Redis Cluster reads it), or the key itself. */
export function slotTag(key: string): string {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return key.slice(open + 1, close);
  }
  return key;
}

export class ScriptBatcher {
  private readonly batcher: TurnBatcher<string, Call>;

  constructor(
    private readonly single: ScriptRun,
    private readonly batch: ScriptRun,
    /** Calls per script call at most (a script blocks Redis while it runs). */
    maxCalls = 128,
  ) {
    // No pacing (Redis answers fast): every turn's calls go at the end of the turn.
    this.batcher = new TurnBatcher<string, Call>({
      idOf: (tag) => tag,
      maxItems: maxCalls,
      maxInFlight: Infinity,
      turnEnd: 'nextTick',
      send: (_tag, calls) => this.send(calls),
    });
  }

  run(keys: string[], args: Array<string | number | Buffer>): Promise<unknown> {
    return new Promise((resolve, reject) => this.batcher.add(slotTag(keys[0] ?? ''), { keys, args, resolve, reject }));
  }

  /** Runs one batch and settles its callers (never rejects: the callers carry the errors). */
  private async send(calls: Call[]): Promise<void> {
    if (calls.length === 1) {
      const [call] = calls as [Call];
      await this.single(call.keys, call.args).then(call.resolve, call.reject);
      return;
    }
    const keys: string[] = [];
    const args: Array<string | number | Buffer> = [calls.length];
    for (const call of calls) {
      keys.push(...call.keys);
      args.push(call.keys.length, call.args.length, ...call.args);
    }
    await this.batch(keys, args).then(
      (replies) => {
        (replies as Array<[number, unknown]>).forEach(([ok, value], i) => {
          const call = calls[i]!;
          if (ok === 1) call.resolve(value);
          else call.reject(new Error(String(value)));
        });
      },
      (err) => {
        for (const call of calls) call.reject(err);
      },
    );
  }
}
