// Command line for the test servers.
//
//   npx tsx test/infra/cli.ts ensure [names…]   install/build into ~/.cache/imcloud (default: everything)
//   npx tsx test/infra/cli.ts up [names…]       start servers, print `export …` lines, run until Ctrl-C
//   npx tsx test/infra/cli.ts node-bin [x.y.z]  fetch a Node release (default: the benchmarks'), print its bin directory
//   npx tsx test/infra/cli.ts up node           a real Kubernetes node (kubelet + containerd), see real-node.ts
//
// Names: redis rabbitmq mongodb minio kubernetes prometheus (and helm for `ensure`); prometheus
// also starts the exporters of the other servers named (see index.ts). `node` (a real node) is
// accepted by `ensure` and `up` besides them, but never part of the default "everything".

import * as path from 'node:path';
import { log } from './base.js';
import { BUILD_NAMES, type BuildName, ensureBuilt, ensureHelm, SERVER_NAMES, type ServerName, serverEnv, startServers } from './index.js';
import { BENCH_NODE_VERSION, ensureNode } from './node.js';
import { ensureRealNode, type RealNode, startNode } from './real-node.js';

const USAGE = `usage:
  npx tsx test/infra/cli.ts ensure [${BUILD_NAMES.join(' ')} node]
  npx tsx test/infra/cli.ts up [${SERVER_NAMES.join(' ')} node]
  npx tsx test/infra/cli.ts node-bin [x.y.z, default ${BENCH_NODE_VERSION}]`;

/** Single quotes keep values safe for `eval "$(… up)"`-style use. */
function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

async function up(names: ServerName[], withNode: boolean): Promise<void> {
  const servers = await startServers(names);
  let node: RealNode | undefined;
  if (withNode) {
    try {
      node = await startNode({ dir: path.join(servers.runDir, 'node') });
    } catch (err) {
      await servers.stop();
      throw err;
    }
  }
  // stdout carries only shell lines, so `… up > env.sh` works; progress is on stderr.
  for (const [key, value] of Object.entries(serverEnv(servers))) console.log(`export ${key}=${shellQuote(value)}`);
  if (node) {
    // The real node's API server (through its host-side proxy) wins over a kwok cluster's.
    for (const key of ['KUBECONFIG', 'IMCLOUD_KUBECONFIG']) console.log(`export ${key}=${shellQuote(node.kubeconfig)}`);
    console.log(`export IMCLOUD_KUBECTL=${shellQuote(node.kubectl)}`);
    console.log(`export IMCLOUD_NODE_PID=${node.holderPid}`);
    console.log(`export IMCLOUD_HELM=${shellQuote(await ensureHelm())}`);
    console.log(`# kubectl:  ${node.kubectl} --kubeconfig ${node.kubeconfig} get nodes -o wide`);
    console.log(`# pods and Services are reachable ONLY inside the node's namespace, e.g.:`);
    console.log(`#   nsenter -t ${node.holderPid} -n -m curl http://<cluster-ip>/`);
    console.log(`# node logs: ${node.dir}/*.log`);
  } else if (servers.kubernetes) {
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
  await node?.stop();
  await servers.stop();
  log('stopped');
  process.exit(0);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...names] = argv;
  switch (command) {
    case 'ensure': {
      const others = names.filter((n) => n !== 'node') as BuildName[];
      await Promise.all([
        names.includes('node') ? ensureRealNode() : undefined,
        others.length || !names.length ? ensureBuilt(others.length ? others : BUILD_NAMES) : undefined,
      ]);
      return;
    }
    case 'up': {
      const others = names.filter((n) => n !== 'node') as ServerName[];
      await up(names.length ? others : [...SERVER_NAMES], names.includes('node'));
      return;
    }
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
