// `imcloud all` as a newcomer starts it: a port that is taken stops it with a hint that names the
// variable picking another port, instead of a bare EADDRINUSE.
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/imcloud.js', import.meta.url));
let taken: Server;
let port = 0;

beforeAll(async () => {
  taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  port = (taken.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((resolve) => taken.close(() => resolve())));

describe('imcloud all', () => {
  it('stops on a busy HTTP port and says which variable picks another', () => {
    const run = spawnSync(process.execPath, [BIN, 'all'], {
      env: { PATH: process.env.PATH, IMCLOUD_HTTP_PORT: String(port), IMCLOUD_GATE_TCP_PORT: '0', IMCLOUD_LOG_LEVEL: 'silent' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`127.0.0.1:${port} is already in use`);
    expect(run.stderr).toContain(`IMCLOUD_HTTP_PORT=${port + 1} make run`);
  });
});
