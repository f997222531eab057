// The one imcloud executable: `imcloud all` (every role in one process, embedded defaults, the
// web chat page) or `imcloud <role>` for a single role. Configuration: env and IMCLOUD_CONFIG.
import { ImError } from '../protocol/errors.js';
import { ROLES, type Role, startRuntime } from './runtime.js';
import { type Config, type ConfigInput, envName } from './shared/config.js';
import { loadConfig } from './shared/config-sources.js';

const USAGE = `usage: imcloud <command>

commands:
  all                       every role in one process (embedded mode, web chat page)
  gate | dispatch | logic | consumer | admin | file
                            one role; configure it with IMCLOUD_* environment variables
  operator                  the Kubernetes operator (reconciles ImClusters; see docs/operator.md)
  help                      this text

Configuration: every key section.key is read from IMCLOUD_SECTION_KEY (or the file named by
IMCLOUD_SECTION_KEY_FILE), or from the YAML/JSON file named by IMCLOUD_CONFIG.
See docs/configuration.md.`;

/** What stopping may take beyond the gate's drain before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 20_000;

async function main(argv: string[]): Promise<void> {
  const command = argv[0] ?? 'help';
  if (command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return;
  }
  if (command === 'operator') return runOperator();
  const embedded = command === 'all';
  if (!embedded && !(ROLES as readonly string[]).includes(command)) {
    console.error(`imcloud: unknown command "${command}"\n\n${USAGE}`);
    process.exit(2);
  }
  const roles: readonly Role[] = embedded ? ROLES : [command as Role];
  const defaults: ConfigInput = embedded
    ? { http: { host: '127.0.0.1' }, web: { enabled: true }, gate: { drainMs: 1000 }, admin: { demoAppId: 'demo' } }
    : {};
  let config: Config;
  try {
    config = loadConfig(process.env, defaults);
  } catch (err) {
    if (err instanceof ImError) {
      console.error(`imcloud: ${err.message}\nFix the variables above (see docs/configuration.md) and start again.`);
      process.exit(78);
    }
    throw err;
  }
  let runtime: Awaited<ReturnType<typeof startRuntime>>;
  try {
    runtime = await startRuntime(config, roles, { web: config.web.enabled && roles.includes('admin'), name: command, lastResort: true });
  } catch (err) {
    const hint = portInUseHint(err, config);
    if (!hint) throw err;
    console.error(`imcloud: ${hint}`);
    process.exit(1);
  }
  if (embedded) await announceEmbedded(runtime);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    // Armed first: neither a stop step that hangs nor a log line that cannot be written keeps the process.
    setTimeout(() => process.exit(1), config.gate.drainMs + SHUTDOWN_GRACE_MS).unref();
    try {
      runtime.log.info({ signal }, 'shutting down');
    } catch {
      // stdout is gone; stop all the same
    }
    await runtime.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

async function runOperator(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ImError) {
      console.error(`imcloud: ${err.message}\nFix the variables above (see docs/operator.md) and start again.`);
      process.exit(78);
    }
    throw err;
  }
  const [{ runOperatorCommand }, { createLogger }] = await Promise.all([import('../operator/main.js'), import('./shared/logger.js')]);
  await runOperatorCommand(config, createLogger('operator', config.node.id, config.log.level));
}

async function announceEmbedded(runtime: Awaited<ReturnType<typeof startRuntime>>): Promise<void> {
  const { config, admin, httpPort, adminToken } = runtime;
  const host = config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host;
  const base = `http://${host}:${httpPort}`;
  const appId = config.admin.demoAppId;
  let secret = '';
  if (appId && admin) {
    const app =
      (await runtime.backends.apps.get(appId)) ??
      (await admin.createApp(appId, 'Demo app', 'all', config.admin.demoAppSecret || undefined));
    secret = app.secret;
  }
  const lines = [
    '',
    `  imcloud is running (all roles, in-memory backends)`,
    '',
    `  web chat       ${base}/   (open it in two tabs, sign in as two users)`,
    `  dispatch       ${base}/v1/dispatch?appId=${appId || '<appId>'}&userId=alice`,
    `  websocket      ${runtime.gate?.publicWsUrl ?? ''}   tcp ${runtime.gate?.publicTcpAddr ?? ''}`,
    `  files          ${runtime.filesAt ?? ''}   (their bytes; the records, like messages, live in memory)`,
    `  demo app       appId=${appId}  secret=${secret}`,
    `  admin token    ${adminToken}`,
    '',
    `  mint a user token:`,
    `    curl -s -X POST -H 'authorization: Bearer ${adminToken}' -H 'content-type: application/json' \\`,
    `      -d '{"userId":"alice"}' ${base}/v1/apps/${appId}/tokens`,
    '',
    '  Ctrl-C stops it.',
    '',
  ];
  process.stderr.write(`${lines.join('\n')}\n`);
}

/** For a port that is taken: which one, and the variable that picks another. */
function portInUseHint(err: unknown, config: Config): string | null {
  const e = err as NodeJS.ErrnoException & { port?: number; address?: string };
  if (e?.code !== 'EADDRINUSE') return null;
  const ports: Array<[number | undefined, string, string]> = [
    [config.http.port, envName('http', 'port'), 'the HTTP port (web page, WebSocket, dispatch)'],
    [config.http.opsPort, envName('http', 'opsPort'), 'the ops port (metrics, admin API)'],
    [config.gate.tcpPort, envName('gate', 'tcpPort'), "the gate's TCP port"],
  ];
  const [port, variable, what] = ports.find(([p]) => p === e.port) ?? [e.port, envName('http', 'port'), 'a port'];
  return `${what} ${e.address ?? config.http.host}:${port} is already in use (another imcloud still running?). Stop that process, or pick another port, e.g. ${variable}=${Number(port) + 1} make run`;
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(`imcloud: failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
