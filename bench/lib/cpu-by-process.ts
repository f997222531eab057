// Where the CPU goes during a benchmark window: every process on the machine, grouped by what
// it is (an imcloud role, a server, a load worker), from /proc/<pid>/stat. Taken machine-wide so
// that nothing that competes for the two cores is left out of the account.
import { readdirSync, readFileSync } from 'node:fs';

export type CpuSnapshot = Map<number, { group: string; seconds: number }>;

/** The group a process belongs to, from its command line. */
export function processGroup(cmdline: string[]): string {
  const joined = cmdline.join(' ');
  const role = /imcloud\.js\s+(gate|dispatch|logic|consumer|admin|file|all|operator)\b/.exec(joined);
  if (role) return role[1]!;
  if (/chat-worker|idle-worker/.test(joined)) return 'bench workers';
  if (/beam\.smp|erl_child_setup|epmd|inet_gethost/.test(joined)) return 'rabbitmq';
  if (/redis-server/.test(joined)) return 'redis';
  if (/ferretdb/.test(joined)) return 'ferretdb';
  if (/postgres/.test(joined)) return 'postgresql';
  if (/minio/.test(joined)) return 'minio';
  if (/dist-chat|single-chat|bench\/files|bench\/run/.test(joined)) return 'bench driver';
  return 'other';
}

export function cpuSnapshot(): CpuSnapshot {
  const out: CpuSnapshot = new Map();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      // utime + stime, in clock ticks (100 per second on Linux)
      out.set(pid, { group: cmdline.length ? processGroup(cmdline) : 'kernel', seconds: (Number(fields[11]) + Number(fields[12])) / 100 });
    } catch {
      // gone between readdir and read
    }
  }
  return out;
}

/** CPU cores each group kept busy between two snapshots taken `seconds` apart, busiest first. */
export function cpuShares(before: CpuSnapshot, after: CpuSnapshot, seconds: number): Array<{ group: string; cores: number }> {
  const byGroup = new Map<string, number>();
  for (const [pid, a] of after) {
    const used = a.seconds - (before.get(pid)?.seconds ?? 0);
    if (used > 0) byGroup.set(a.group, (byGroup.get(a.group) ?? 0) + used);
  }
  return [...byGroup].map(([group, s]) => ({ group, cores: Math.round((s / seconds) * 100) / 100 })).sort((x, y) => y.cores - x.cores);
}
