// PostgreSQL from Debian's postgresql package, one private cluster per run: FerretDB's backend.
//
// PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user the
// package creates (initdb and the server run through runuser); otherwise it runs as the caller.

import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from './base.js';
import { ensureDebPackages } from './install.js';
import { freePort, type ServerProcess, spawnServer } from './processes.js';
import { waitForReady } from './readiness.js';

export interface PostgresqlOptions {
  /** Directory owned by this server (cluster data, socket, log). */
  dir: string;
}

export interface PostgresqlServer {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  url: string;
  port: number;
  server: ServerProcess;
  stop(): Promise<void>;
}

/** The newest installed server's bin directory (e.g. /usr/lib/postgresql/15/bin). */
export async function ensurePostgresql(): Promise<string> {
  await ensureDebPackages(['postgresql'], '~30 s');
  const root = '/usr/lib/postgresql';
  const versions = (await fs.readdir(root)).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const bin = path.join(root, v, 'bin');
    if (
      await fs.access(path.join(bin, 'initdb')).then(
        () => true,
        () => false,
      )
    )
      return bin;
  }
  throw new Error(
    `infra: no initdb under ${root}/*/bin although the postgresql package is installed; try: apt-get install --reinstall postgresql`,
  );
}

/** Runs as the postgres user when we are root (PostgreSQL will not run as root). */
function asOwner(command: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
}

export async function startPostgresql(opts: PostgresqlOptions): Promise<PostgresqlServer> {
  const bin = await ensurePostgresql();
  const port = await freePort();
  const data = path.join(opts.dir, 'data');
  await fs.mkdir(opts.dir, { recursive: true });
  if (process.getuid?.() === 0) {
    await run('chown', ['postgres', opts.dir]);
    // The run directory is private (0700): let the postgres user pass through it to its own.
    const tmp = os.tmpdir();
    for (let d = path.dirname(opts.dir); d.startsWith(`${tmp}/`); d = path.dirname(d)) {
      const { mode } = await fs.stat(d);
      await fs.chmod(d, (mode & 0o7777) | 0o011);
    }
  }
  const [initdb, initArgs] = asOwner(path.join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    '--auth=trust',
    '-E',
    'UTF8',
    '--no-sync',
    '--no-instructions',
  ]);
  // cwd: the postgres user may not be allowed into the caller's directory.
  await run(initdb, initArgs, { cwd: opts.dir, logFile: path.join(opts.dir, 'postgresql.log') });
  const [command, args] = asOwner(path.join(bin, 'postgres'), [
    '-D',
    data,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    `unix_socket_directories=${opts.dir}`,
    // A throw-away test cluster: no waiting for the disk on commit.
    '-c',
    'fsync=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'full_page_writes=off',
    '-c',
    'max_connections=200',
  ]);
  const proc = await spawnServer({ name: 'postgresql', command, args, cwd: opts.dir, logFile: path.join(opts.dir, 'postgresql.log') });
  await waitForReady({
    server: proc,
    what: `pg_isready on 127.0.0.1:${port}`,
    probe: async () => {
      await run(path.join(bin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port)], { timeoutMs: 5_000 });
      return true;
    },
    timeoutMs: 30_000,
    hint: 'Check that the Debian package postgresql is installed (apt-get install -y postgresql).',
  });
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    server: proc,
    // SIGTERM waits for clients to leave; stop FerretDB first.
    stop: () => proc.stop(),
  };
}
