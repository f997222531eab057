// Summarises a V8 .cpuprofile (node --cpu-prof): self time by area (source file of the
// bundle through its source map, npm package, node internals, GC) and the hottest functions,
// plus the inclusive time of the main entry points of each role.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** generated line → sorted [column, source index] segments. */
function decodeMappings(mappings: string): Array<Array<[number, number]>> {
  const lines: Array<Array<[number, number]>> = [];
  let source = 0;
  let _origLine = 0;
  let _origCol = 0;
  let _nameIdx = 0;
  for (const lineText of mappings.split(';')) {
    const segs: Array<[number, number]> = [];
    let genCol = 0;
    for (const seg of lineText.split(',')) {
      if (!seg) continue;
      const values: number[] = [];
      let value = 0;
      let shift = 0;
      for (const ch of seg) {
        const digit = B64.indexOf(ch);
        value += (digit & 31) << shift;
        if (digit & 32) shift += 5;
        else {
          values.push(value & 1 ? -(value >> 1) : value >> 1);
          value = 0;
          shift = 0;
        }
      }
      genCol += values[0]!;
      if (values.length >= 4) {
        source += values[1]!;
        _origLine += values[2]!;
        _origCol += values[3]!;
        if (values.length >= 5) _nameIdx += values[4]!;
        segs.push([genCol, source]);
      }
    }
    lines.push(segs);
  }
  return lines;
}

class SourceMapper {
  private maps = new Map<string, { sources: string[]; lines: Array<Array<[number, number]>> } | null>();

  sourceOf(url: string, line: number, column: number): string | undefined {
    let m = this.maps.get(url);
    if (m === undefined) {
      m = null;
      try {
        const path = fileURLToPath(url);
        if (existsSync(`${path}.map`)) {
          const raw = JSON.parse(readFileSync(`${path}.map`, 'utf8')) as { sources: string[]; mappings: string };
          m = { sources: raw.sources, lines: decodeMappings(raw.mappings) };
        }
      } catch {
        m = null;
      }
      this.maps.set(url, m);
    }
    if (!m) return undefined;
    const segs = m.lines[line];
    if (!segs || segs.length === 0) return undefined;
    let best = segs[0]!;
    for (const s of segs) {
      if (s[0] <= column) best = s;
      else break;
    }
    return m.sources[best[1]];
  }
}

function area(frame: CallFrame, mapper: SourceMapper): string {
  const { url, functionName } = frame;
  if (!url) {
    if (functionName.startsWith('(')) return functionName; // (garbage collector), (idle), (program)
    return '(native)';
  }
  if (url.startsWith('node:')) return url.startsWith('node:internal/') ? url.split('/').slice(0, 2).join('/') : url;
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return `npm:${rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const src = mapper.sourceOf(url, frame.lineNumber, frame.columnNumber);
  if (src) {
    const clean = src.replace(/^(\.\.\/)+/, '');
    const nm2 = clean.lastIndexOf('node_modules/');
    if (nm2 >= 0) return `npm:${clean.slice(nm2 + 13).split('/')[0]}`;
    return clean;
  }
  return url.replace(/^file:\/\/.*?\/(dist|services|bench)\//, '$1/');
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  busyMs: number;
  byArea: Array<{ area: string; ms: number; pct: number }>;
  topFunctions: Array<{ fn: string; area: string; ms: number; pct: number }>;
  inclusive: Array<{ fn: string; ms: number; pct: number }>;
}

/** Entry points whose inclusive (synchronous) time tells the split between the roles. */
const ENTRY_POINTS = [
  'onFrame',
  'forward',
  'authenticate',
  'deliver',
  'write',
  'handle',
  'accept',
  'notifyUsers',
  'pushAck',
  'delivered',
  'reply',
  'flush',
  'receive',
  'flushGate',
  'pump',
  'processTicksAndRejections',
  'runMicrotasks',
  'emit',
  'onread',
  'onStreamRead',
  'encodeStoreRecord',
  'decodeStoreRecord',
  'encodeFrameBody',
  'decodeFrame',
  'decodeFrameBody',
  'encodeFrame',
  'send',
  'writeGeneric',
  'writevGeneric',
  'getMessage',
  'dataMessage',
  'inc',
  'observe',
  'randomUUID',
];

export function summarizeProfile(file: string, top = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const mapper = new SourceMapper();
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  const totalMs = (profile.endTime - profile.startTime) / 1000;
  let idleMs = 0;
  const areas = new Map<string, number>();
  const fns = new Map<string, { area: string; ms: number }>();
  for (const [id, ms] of self) {
    const n = byId.get(id)!;
    const a = area(n.callFrame, mapper);
    if (a === '(idle)') idleMs += ms;
    areas.set(a, (areas.get(a) ?? 0) + ms);
    const key = `${n.callFrame.functionName || '(anonymous)'} ${a}`;
    const f = fns.get(key) ?? { area: a, ms: 0 };
    f.ms += ms;
    fns.set(key, f);
  }
  // Inclusive time of named entry points (outermost occurrence on each stack only).
  const inclusive = new Map<string, number>();
  const parentOf = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  for (const [id, ms] of self) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parentOf.get(cur)) {
      const name = byId.get(cur)!.callFrame.functionName;
      if (ENTRY_POINTS.includes(name) && !seen.has(name)) {
        seen.add(name);
        inclusive.set(name, (inclusive.get(name) ?? 0) + ms);
      }
    }
  }
  const busyMs = totalMs - idleMs;
  const pct = (ms: number) => Math.round((1000 * ms) / busyMs) / 10;
  const r = (ms: number) => Math.round(ms);
  return {
    file,
    totalMs: r(totalMs),
    busyMs: r(busyMs),
    byArea: [...areas]
      .filter(([a]) => a !== '(idle)')
      .sort((x, y) => y[1] - x[1])
      .slice(0, top)
      .map(([a, ms]) => ({ area: a, ms: r(ms), pct: pct(ms) })),
    topFunctions: [...fns]
      .filter(([, f]) => f.area !== '(idle)')
      .sort((x, y) => y[1].ms - x[1].ms)
      .slice(0, top)
      .map(([k, f]) => ({ fn: k.split(' ')[0]!, area: f.area, ms: r(f.ms), pct: pct(f.ms) })),
    inclusive: [...inclusive].sort((x, y) => y[1] - x[1]).map(([fn, ms]) => ({ fn, ms: r(ms), pct: pct(ms) })),
  };
}

// Standalone: npx tsx bench/lib/cpu-profile.ts FILE.cpuprofile [top]
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const s = summarizeProfile(process.argv[2]!, Number(process.argv[3] ?? 25));
  console.log(`${s.file}: ${s.totalMs} ms profiled, ${s.busyMs} ms busy (not idle)`);
  console.log('\nself time by area:');
  for (const a of s.byArea) console.log(`  ${String(a.pct).padStart(5)}%  ${String(a.ms).padStart(7)} ms  ${a.area}`);
  console.log('\nhottest functions (self):');
  for (const f of s.topFunctions) console.log(`  ${String(f.pct).padStart(5)}%  ${String(f.ms).padStart(7)} ms  ${f.fn}  [${f.area}]`);
  console.log('\ninclusive (synchronous) time of entry points:');
  for (const f of s.inclusive) console.log(`  ${String(f.pct).padStart(5)}%  ${String(f.ms).padStart(7)} ms  ${f.fn}`);
}

interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  children?: HeapNode[];
}

export interface AllocationSummary {
  file: string;
  totalMb: number;
  bytesPerMessage: number;
  top: Array<{ fn: string; area: string; mb: number; pct: number; bytesPerMessage: number }>;
}

/** Summarises a sampling heap profile (bench/lib/alloc-profile.cjs): bytes allocated by function. */
export function summarizeAllocations(file: string, messages: number, top = 20): AllocationSummary {
  const root = (JSON.parse(readFileSync(file, 'utf8')) as { head: HeapNode }).head;
  const mapper = new SourceMapper();
  const byFn = new Map<string, { area: string; bytes: number }>();
  let total = 0;
  const walk = (n: HeapNode) => {
    total += n.selfSize;
    if (n.selfSize > 0) {
      const a = area(n.callFrame, mapper);
      const key = `${n.callFrame.functionName || '(anonymous)'} ${a}`;
      const f = byFn.get(key) ?? { area: a, bytes: 0 };
      f.bytes += n.selfSize;
      byFn.set(key, f);
    }
    for (const c of n.children ?? []) walk(c);
  };
  walk(root);
  const per = (b: number) => Math.round(b / Math.max(1, messages));
  return {
    file,
    totalMb: Math.round(total / 2 ** 20),
    bytesPerMessage: per(total),
    top: [...byFn]
      .sort((x, y) => y[1].bytes - x[1].bytes)
      .slice(0, top)
      .map(([k, f]) => ({
        fn: k.split(' ')[0]!,
        area: f.area,
        mb: Math.round(f.bytes / 2 ** 20),
        pct: Math.round((1000 * f.bytes) / total) / 10,
        bytesPerMessage: per(f.bytes),
      })),
  };
}
