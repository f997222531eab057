// Build: protobuf static code + types from protocol/*.proto, then the server bundle (dist/imcloud.js)
// and the web page bundle (dist/web/). Runs from `npm ci` through the prepare script.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const step = (msg) => process.stderr.write(`build: ${msg}\n`);

function pbjsBin(name) {
  return join(dirname(require.resolve('protobufjs-cli/package.json')), 'bin', name);
}

export function generateProto() {
  const out = join(root, 'protocol', 'gen');
  mkdirSync(out, { recursive: true });
  const js = join(out, 'im.js');
  step('protobuf static code (protocol/gen/im.js, im.d.ts)');
  execFileSync(
    process.execPath,
    [
      pbjsBin('pbjs'),
      '-t',
      'static-module',
      '-w',
      'es6',
      '--force-number',
      '--no-verify',
      '--no-delimited',
      '--no-beautify',
      '-p',
      join(root, 'protocol'),
      '-o',
      js,
      join(root, 'protocol', 'im.proto'),
      join(root, 'protocol', 'internal.proto'),
    ],
    { stdio: 'inherit' },
  );
  // Node's ESM resolver needs the file extension that pbjs leaves out.
  // 64-bit fields decode to plain numbers (seqs and ms timestamps stay below 2^53; message
  // ids travel as strings), so no Long objects reach application code.
  const code = readFileSync(js, 'utf8')
    .replace(/from "protobufjs\/minimal"/g, 'from "protobufjs/minimal.js"')
    .replace(/(import \$protobuf from "protobufjs\/minimal.js";)/, '$1\n$protobuf.util.Long = undefined;\n$protobuf.configure();');
  writeFileSync(js, code);
  execFileSync(process.execPath, [pbjsBin('pbts'), '--no-comments', '-o', join(out, 'im.d.ts'), js], { stdio: 'inherit' });
}

async function bundle() {
  const esbuild = await import('esbuild');
  step('server bundle (dist/imcloud.js)');
  await esbuild.build({
    entryPoints: [join(root, 'services', 'cli.ts')],
    outfile: join(root, 'dist', 'imcloud.js'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: true,
    logLevel: 'warning',
  });
  if (existsSync(join(root, 'web', 'main.ts'))) {
    step('web page bundle (dist/web/)');
    await esbuild.build({
      entryPoints: [join(root, 'web', 'main.ts')],
      outfile: join(root, 'dist', 'web', 'main.js'),
      bundle: true,
      platform: 'browser',
      format: 'esm',
      target: 'es2020',
      sourcemap: true,
      minify: true,
      logLevel: 'warning',
    });
    for (const f of ['index.html', 'style.css']) {
      if (existsSync(join(root, 'web', f))) cpSync(join(root, 'web', f), join(root, 'dist', 'web', f));
    }
  }
}

generateProto();
await bundle();
step('done');
