// The import rules (.dependency-cruiser.cjs, ADR 0026) catch what they are meant to catch and
// nothing else: a small tree with one import of each forbidden kind and the allowed ones next to
// them is cruised with the real config. A rule whose pattern no longer matches anything fails
// here, where `make test`'s check of the real tree would pass in silence.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const exec = promisify(execFile);

/** file → its source; every import in it is one edge of the tree. */
const TREE: Record<string, string> = {
  'services/ports/thing.ts': 'export interface Thing { x: number }\n',
  'services/ports/bad-port.ts': "export { MemoryThing } from '../adapters/memory/memory-thing.js';\n",
  'services/adapters/memory/memory-thing.ts':
    "import type { Thing } from '../../ports/thing.js';\nexport class MemoryThing implements Thing { x = 1; }\n",
  'services/adapters/mongodb/mongo-thing.ts':
    "import { MongoClient } from 'mongodb';\nexport type ThingDoc = { _id: string };\nexport const client = MongoClient;\n",
  // A type-only import counts as much as any other.
  'services/adapters/redis/redis-thing.ts':
    "import { Redis } from 'ioredis';\nimport type { ThingDoc } from '../mongodb/mongo-thing.js';\nexport const make = (d: ThingDoc) => [Redis, d];\n",
  'services/adapters/real-backends.ts':
    "import { MemoryThing } from './memory/memory-thing.js';\nimport { make } from './redis/redis-thing.js';\nexport const all = [MemoryThing, make];\n",
  'services/backends.ts':
    "import { all } from './adapters/real-backends.js';\nimport { MemoryThing } from './adapters/memory/memory-thing.js';\nexport const backends = [all, MemoryThing];\n",
  'services/runtime.ts':
    "import { backends } from './backends.js';\nimport { MemoryThing } from './adapters/memory/memory-thing.js';\nexport const run = [backends, MemoryThing];\n",
  'services/logic/logic.ts':
    "import type { Thing } from '../ports/thing.js';\nimport { MemoryThing } from '../adapters/memory/memory-thing.js';\nimport { MongoClient } from 'mongodb';\nexport const logic = (t: Thing) => [t, MemoryThing, MongoClient];\n",
  'services/logic/logic.test.ts': "import { MemoryThing } from '../adapters/memory/memory-thing.js';\nexport const t = MemoryThing;\n",
  'services/logic/logic-fixture.ts': "import { MemoryThing } from '../adapters/memory/memory-thing.js';\nexport const f = MemoryThing;\n",
  'services/gate/gate.ts': "import { backends } from '../backends.js';\nexport const gate = backends;\n",
  'services/shared/a.ts': "import { b } from './b.js';\nexport const a = () => b;\n",
  'services/shared/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n",
  'services/shared/c.ts': "import { Redis } from 'ioredis';\nimport { gone } from './missing.js';\nexport const c = [Redis, gone];\n",
  'protocol/codec.ts': "import { run } from '../services/runtime.js';\nexport const codec = run;\n",
  'protocol/errors.ts': "export const codes = ['IM_X'];\n",
  'sdk/src/client.ts':
    "import { codes } from '../../protocol/errors.js';\nimport { logic } from '../../services/logic/logic.js';\nexport const client = [codes, logic];\n",
  'web/main.ts':
    "import { client } from '../sdk/src/client.js';\nimport { codes } from '../protocol/errors.js';\nimport { gate } from '../services/gate/gate.js';\nexport const page = [client, codes, gate];\n",
};

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

/** A client library's files stand for the library: `node_modules/ioredis/built/index.js` → `ioredis`. */
const short = (path: string): string => /node_modules\/([^/]+)\//.exec(path)?.[1] ?? path;

describe('the dependency rules', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'imcloud-deps-'));
    for (const [file, source] of Object.entries(TREE)) {
      await mkdir(dirname(join(dir, file)), { recursive: true });
      await writeFile(join(dir, file), source);
    }
    await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('report each forbidden import under its rule, and no allowed one', async () => {
    const depcruise = join(ROOT, 'node_modules', '.bin', 'depcruise');
    // Exit code 1 with violations: the report is on stdout either way.
    const { stdout } = await exec(
      depcruise,
      ['--config', join(ROOT, '.dependency-cruiser.cjs'), '--output-type', 'json', 'protocol', 'services', 'sdk', 'web'],
      { cwd: dir },
    ).catch((err: { stdout: string }) => err);
    const report = JSON.parse(stdout) as { summary: { violations: Violation[]; error: number } };
    const found = report.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${short(v.to)}`).sort();
    expect(found).toEqual([
      'adapters-keep-to-their-backend: services/adapters/redis/redis-thing.ts → services/adapters/mongodb/mongo-thing.ts',
      'adapters-only-through-the-wiring: services/runtime.ts → services/adapters/memory/memory-thing.ts',
      'client-libraries-only-in-adapters: services/shared/c.ts → ioredis',
      'imports-resolve: services/shared/c.ts → ./missing.js',
      // A circle is reported once, at its first edge.
      'no-circular: services/shared/a.ts → services/shared/b.ts',
      'ports-are-interfaces: services/ports/bad-port.ts → services/adapters/memory/memory-thing.ts',
      'protocol-stands-alone: protocol/codec.ts → services/runtime.ts',
      'roles-import-ports: services/gate/gate.ts → services/backends.ts',
      'roles-import-ports: services/logic/logic.ts → mongodb',
      'roles-import-ports: services/logic/logic.ts → services/adapters/memory/memory-thing.ts',
      'sdk-imports-only-the-protocol: sdk/src/client.ts → services/logic/logic.ts',
      'web-page-uses-the-sdk: web/main.ts → services/gate/gate.ts',
    ]);
    expect(report.summary.error).toBe(found.length);
  }, 60_000);
});
