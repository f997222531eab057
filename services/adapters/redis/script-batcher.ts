// Runs the calls of one Lua script made in the same event-loop turn as ONE script call per hash
// slot. Under load each send runs several scripts; ioredis already writes a turn's commands in
// one pipeline, but every command still costs a Command object, a promise and a reply on the
// client and a script invocation on the server. Batched, a turn's claims (or appends, …) cost
// one of each. Each call still runs on its own, atomically, inside a pcall: one call's error is
// that caller's alone. A call alone in its turn runs the plain script.

type ScriptRun = (keys: string[], args: Array<string | number | Buffer>) => Promise<unknown>;

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
  private readonly pending = new Map<string, Call[]>();
  private scheduled = false;

  constructor(
    private readonly single: ScriptRun,
    private readonly batch: ScriptRun,
    /** Calls per script call at most (a script blocks Redis while it runs). */
    private readonly maxCalls = 128,
  ) {}

  run(keys: string[], args: Array<string | number | Buffer>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const tag = slotTag(keys[0] ?? '');
      let calls = this.pending.get(tag);
      if (!calls) this.pending.set(tag, (calls = []));
      calls.push({ keys, args, resolve, reject });
      if (calls.length >= this.maxCalls) {
        this.pending.delete(tag);
        this.send(calls);
      } else if (!this.scheduled) {
        this.scheduled = true;
        // nextTick, as ioredis's automatic pipelining: after every continuation of this turn
        // has made its call, before the pipeline is written.
        process.nextTick(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const groups = [...this.pending.values()];
    this.pending.clear();
    for (const calls of groups) this.send(calls);
  }

  private send(calls: Call[]): void {
    if (calls.length === 1) {
      const [call] = calls as [Call];
      this.single(call.keys, call.args).then(call.resolve, call.reject);
      return;
    }
    const keys: string[] = [];
    const args: Array<string | number | Buffer> = [calls.length];
    for (const call of calls) {
      keys.push(...call.keys);
      args.push(call.keys.length, call.args.length, ...call.args);
    }
    this.batch(keys, args).then(
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
