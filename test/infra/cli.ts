// Command line for the test servers.
//
//   npx tsx test/infra/cli.ts ensure [names…]   install/build into ~/.cache/imcloud (default: everything)
//   npx tsx test/infra/cli.ts up [names…]       start servers, print `export …` lines, run until Ctrl-C
//   npx tsx test/infra/cli.ts node-bin [x.y.z]  fetch a Node release (default: the benchmarks'), print its bin directory
//
// Names: redis rabbitmq mongodb minio kubernetes prometheus (and helm for `ensure`); prometheus
// also starts the exporters of the other servers named (see index.ts).

import { log } from './base.js';
import { BUILD_NAMES, type BuildName, ensureBuilt, ensureHelm, SERVER_NAMES, type ServerName, serverEnv, startServers } from './index.js';
import { BENCH_NODE_VERSION, ensureNode } from './node.js';

const USAGE = `usage:
  npx tsx test/infra/cli.ts ensure [${BUILD_NAMES.join(' ')}]
  npx tsx test/infra/cli.ts up [${SERVER_NAMES.join(' ')}]
  npx tsx test/infra/cli.ts node-bin [x.y.z, default ${BENCH_NODE_VERSION}]`;

/** Single quotes keep values safe for `eval "$(… up)"`-style use. */
function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

async function up(names: ServerName[]): Promise<void> {
  const servers = await startServers(names);
  // stdout carries only shell lines, so `… up > env.sh` works; progress is on stderr.
  for (const [key, value] of Object.entries(serverEnv(servers))) console.log(`export ${key}=${shellQuote(value)}`);
  if (servers.kubernetes) {
    console.log(`export IMCLOUD_HELM=${shellQuote(await ensureHelm())}`);
    console.log(`# kubeconfig: ${servers.kubernetes.kubeconfig}`);
    console.log(`# kubectl:    ${servers.kubernetes.kubectl} --kubeconfig ${servers.kubernetes.kubeconfig} get nodes`);
  }
  console.log(`# data and logs: ${servers.runDir}`);
  log('servers are up; press Ctrl-C to stop them');

  await new Promise<void>((resolve) => {
    let stopping = false;
    const shutdown = (signal: NodeJS.Signals) => {
      // Ctrl-C reaches us more than once (process group + tsx relay): stop once, ignore repeats.
      if (stopping) return;
      stopping = true;
      log(`${signal}: stopping servers…`);
      resolve();
    };
    process.on('SIGINT', shutdown);
    process.on('SIGTERM', shutdown);
  });
  await servers.stop();
  log('stopped');
  process.exit(0);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...names] = argv;
  switch (command) {
    case 'ensure':
      await ensureBuilt(names.length ? (names as BuildName[]) : BUILD_NAMES);
      return;
    case 'up':
      await up(names.length ? (names as ServerName[]) : [...SERVER_NAMES]);
      return;
    case 'node-bin':
      // stdout is the directory alone, for PATH="$(… node-bin):$PATH"; progress is on stderr.
      console.log(await ensureNode(names[0]));
      return;
    default:
      console.error(USAGE);
      process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
