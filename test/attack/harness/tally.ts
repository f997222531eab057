// Counting attacks across vitest's worker processes: each worker appends JSON lines to a file
// in the directory the globalSetup names (IMCLOUD_ATTACK_TALLY); the globalSetup's teardown
// reads them all and prints the one line
//   attacks: tried=N held=N crashed=N leaked=N
// An attack is held when its own assertions passed, no process died or stopped answering
// right after it, nothing it or anybody saw crossed tenants, and the check after its group
// (every process alive and ready, bystanders chat, no canary crossed) passed too.
import { appendFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type TallyRecord =
  | { kind: 'plan'; target: string; group: string; attack: string; open: boolean }
  | { kind: 'attack'; target: string; group: string; attack: string; passed: boolean; crashed: boolean; leaked: boolean; error?: string }
  | { kind: 'group'; target: string; group: string; healthy: boolean; crashed: boolean; leaked: boolean; error?: string };

export const TALLY_ENV = 'IMCLOUD_ATTACK_TALLY';

export function record(r: TallyRecord): void {
  const dir = process.env[TALLY_ENV];
  if (!dir) return;
  appendFileSync(join(dir, `${process.pid}.jsonl`), `${JSON.stringify(r)}\n`);
}

export interface Summary {
  tried: number;
  held: number;
  crashed: number;
  leaked: number;
  /** `target / group / attack: why`, for every attack that did not hold. */
  notHeld: string[];
}

export function summarise(dir: string): Summary {
  const records: TallyRecord[] = [];
  if (existsSync(dir)) {
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.jsonl'))) {
      for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) if (line.trim()) records.push(JSON.parse(line) as TallyRecord);
    }
  }
  const key = (r: { target: string; group: string }) => `${r.target} / ${r.group}`;
  const groups = new Map<string, Extract<TallyRecord, { kind: 'group' }>>();
  for (const r of records) if (r.kind === 'group') groups.set(key(r), r);
  const results = new Map<string, Extract<TallyRecord, { kind: 'attack' }>>();
  for (const r of records) if (r.kind === 'attack') results.set(`${key(r)} / ${r.attack}`, r);
  const s: Summary = { tried: 0, held: 0, crashed: 0, leaked: 0, notHeld: [] };
  for (const plan of records) {
    if (plan.kind !== 'plan') continue;
    s.tried += 1;
    const name = `${key(plan)} / ${plan.attack}`;
    const r = results.get(name);
    const g = groups.get(key(plan));
    if (r?.crashed) s.crashed += 1;
    if (r?.leaked) s.leaked += 1;
    const why = !r
      ? 'did not run'
      : r.crashed
        ? `a process died or stopped answering${r.error ? `: ${r.error}` : ''}`
        : r.leaked
          ? `cross-tenant data seen${r.error ? `: ${r.error}` : ''}`
          : !r.passed
            ? (r.error ?? 'failed')
            : !g
              ? 'its group check did not run'
              : !g.healthy
                ? `its group check failed: ${g.error ?? ''}`
                : undefined;
    if (why === undefined) s.held += 1;
    else s.notHeld.push(`${name}${plan.open ? ' [open]' : ''}: ${why.split('\n')[0]!.slice(0, 300)}`);
  }
  // A group check that found a dead process or a leak the attacks themselves did not see.
  for (const g of groups.values()) {
    if (g.crashed) s.crashed += 1;
    if (g.leaked) s.leaked += 1;
  }
  return s;
}

export function summaryLine(s: Summary): string {
  return `attacks: tried=${s.tried} held=${s.held} crashed=${s.crashed} leaked=${s.leaked}`;
}
