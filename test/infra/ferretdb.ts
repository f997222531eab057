// MongoDB wire protocol for tests: FerretDB v1 on its PostgreSQL backend (postgresql.ts).
// The SQLite backend needs nothing else but spent twice the CPU per write under the distributed
// benchmark; PostgreSQL is FerretDB 1.x's main backend.
//
// `go install .../cmd/ferretdb` builds a binary that panics at start (FerretDB
// issue 2982), so we build a tiny main of our own around FerretDB's embeddable
// package instead, in a wrapper module in the cache.

import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ensureGoBinary, wrapperModule } from './build.js';
import { startPostgresql } from './postgresql.js';
import { freePort, spawnServer } from './processes.js';
import { tcpProbe, waitForReady } from './readiness.js';

export const FERRETDB_MODULE = 'github.com/FerretDB/FerretDB';
export const FERRETDB_VERSION = 'v1.24.2';

const MAIN_GO = `// Command ferretdb runs FerretDB through its embeddable package: the
// upstream command does not start when built with go install.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	sqliteURL := flag.String("sqlite-url", "file:data/", "SQLite directory URL (must end with a slash)")
	postgresqlURL := flag.String("postgresql-url", "", "PostgreSQL URL; when set, the postgresql backend is used instead of SQLite")
	showVersion := flag.Bool("version", false, "print the FerretDB module version and exit")
	flag.Parse()

	if *showVersion {
		fmt.Println("ferretdb", moduleVersion())
		return
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	config := &ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: *sqliteURL,
	}
	if *postgresqlURL != "" {
		config.Handler = "postgresql"
		config.PostgreSQLURL = *postgresqlURL
	}
	f, err := ferretdb.New(config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
	logger.Info("listening", "addr", *listen, "version", moduleVersion())
	if err := f.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
}

// moduleVersion reads the FerretDB version this binary was built from.
func moduleVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "${FERRETDB_MODULE}" {
				return dep.Version
			}
		}
	}
	return "unknown"
}
`;

export function ensureFerretdb(): Promise<string> {
  return ensureGoBinary({
    name: 'ferretdb',
    version: FERRETDB_VERSION,
    estimate: '~30 s',
    recipe: 'wrapper main around ferretdb.New, sqlite and postgresql handlers, -trimpath -s -w',
    versionCheck: { args: ['--version'], expect: `ferretdb ${FERRETDB_VERSION}` },
    async build(out, go) {
      const dir = await wrapperModule(`ferretdb-${FERRETDB_VERSION}`, async (d) => {
        await go(['mod', 'init', 'imcloud.local/ferretdb'], { cwd: d });
        await go(['mod', 'edit', `-require=${FERRETDB_MODULE}@${FERRETDB_VERSION}`], { cwd: d });
      });
      // Written on every build: the module directory outlives changes to this main.
      await fs.writeFile(path.join(dir, 'main.go'), MAIN_GO);
      await go(['build', '-mod=mod', '-trimpath', '-ldflags=-s -w', '-o', out, '.'], { cwd: dir });
    },
  });
}

export interface FerretdbOptions {
  /** Directory owned by this server (its PostgreSQL cluster + logs). */
  dir: string;
  /**
   * Address to listen on and to name in the URL (default 127.0.0.1), e.g. the real node's address
   * when the server runs inside the node's network namespace (startServersInNode), where pods reach it.
   */
  host?: string;
}

export interface FerretdbServer {
  /** mongodb://127.0.0.1:PORT/ */
  url: string;
  port: number;
  /** The PostgreSQL backend: postgres://postgres@127.0.0.1:PORT/postgres (its exporter connects here). */
  postgresqlUrl: string;
  stop(): Promise<void>;
}

export async function startFerretdb(opts: FerretdbOptions): Promise<FerretdbServer> {
  const bin = await ensureFerretdb();
  const postgresql = await startPostgresql({ dir: path.join(opts.dir, 'postgresql') });
  const port = await freePort();
  const host = opts.host ?? '127.0.0.1';
  try {
    const proc = await spawnServer({
      name: 'mongodb',
      command: bin,
      args: [`--listen-addr=${host}:${port}`, `--postgresql-url=${postgresql.url}`],
      logFile: path.join(opts.dir, 'ferretdb.log'),
    });
    await waitForReady({
      server: proc,
      companions: [postgresql.server],
      what: `OP_MSG ping on ${host}:${port}`,
      probe: () => tcpProbe(port, pingMessage(), (b) => (b.length >= 16 ? b.readInt32LE(12) === OP_MSG : undefined), 2_000, host),
      timeoutMs: 30_000,
    });
    return {
      url: `mongodb://${host}:${port}/`,
      port,
      postgresqlUrl: postgresql.url,
      // FerretDB first: PostgreSQL's shutdown waits for its clients.
      stop: async () => {
        await proc.stop();
        await postgresql.stop();
      },
    };
  } catch (err) {
    await postgresql.stop();
    throw err;
  }
}

const OP_MSG = 2013;

/**
 * A MongoDB OP_MSG `{ping: 1, $db: "admin"}`, encoded by hand so that the
 * readiness probe needs no driver: the server listens before it serves, and
 * only an answered command proves it is ready.
 */
function pingMessage(): Buffer {
  const cstring = (s: string) => Buffer.from(`${s}\0`, 'utf8');
  const int32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32LE(n);
    return b;
  };
  const db = 'admin';
  const elements = Buffer.concat([
    Buffer.from([0x10]),
    cstring('ping'),
    int32(1), // int32 field
    Buffer.from([0x02]),
    cstring('$db'),
    int32(Buffer.byteLength(db) + 1),
    cstring(db), // string field
  ]);
  const doc = Buffer.concat([int32(4 + elements.length + 1), elements, Buffer.from([0])]);
  const body = Buffer.concat([int32(0) /* flagBits */, Buffer.from([0]) /* section kind 0 */, doc]);
  const header = Buffer.concat([int32(16 + body.length), int32(1) /* requestID */, int32(0), int32(OP_MSG)]);
  return Buffer.concat([header, body]);
}
