// The processes of bench/lib/machine-probe.ts. Plain JavaScript, so that each starts in a few
// tens of milliseconds and measures the machine, not a transpiler.
//
//   node machine-probe-child.cjs core            → {"coreLoopMs":…,"pageTouchUs":…}
//   node machine-probe-child.cjs ping CPU N      → {"roundTripUs":…,"cpuUsPerRoundTrip":…}
//   node machine-probe-child.cjs pong            (started by ping, pinned to CPU with taskset)
'use strict';
const { spawn } = require('node:child_process');

const [mode, ...args] = process.argv.slice(2);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** One core's speed: a fixed integer loop, and the first touch of fresh pages (page faults). */
function core() {
  const loops = [];
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    let x = 0;
    for (let i = 0; i < 2e7; i++) x = (x + i * 7) | 0;
    loops.push(performance.now() - t + (x === 0.5 ? 1 : 0)); // x is used, so the loop stays
  }
  const bytes = 64 * 1024 * 1024;
  const touches = [];
  for (let r = 0; r < 3; r++) {
    // allocUnsafeSlow: fresh memory from the allocator, not yet touched, so each page faults once.
    const b = Buffer.allocUnsafeSlow(bytes);
    const t = performance.now();
    for (let i = 0; i < bytes; i += 4096) b[i] = 1;
    touches.push(((performance.now() - t) * 1000) / (bytes / 4096));
  }
  return { coreLoopMs: median(loops), pageTouchUs: median(touches) };
}

/** Echoes every byte; 's' answers with this process's CPU time so far, 'q' too and exits. */
function pong() {
  process.stdin.on('data', (d) => {
    const c = d[d.length - 1];
    if (c === 0x73 || c === 0x71) {
      const u = process.cpuUsage();
      process.stdout.write(`${u.user + u.system}\n`);
      if (c === 0x71) process.stdin.destroy();
    } else process.stdout.write(d);
  });
}

/** N one-byte round trips to a pong pinned to `cpu`; CPU time of both sides per round trip. */
function ping(cpu, n) {
  const child = spawn('taskset', ['-c', cpu, process.execPath, __filename, 'pong'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const one = Buffer.from('x');
  let reply = () => undefined;
  let text = '';
  child.stdout.on('data', (d) => {
    text += d.toString('latin1');
    reply();
  });
  const roundTrip = () =>
    new Promise((resolve) => {
      reply = resolve;
      text = '';
      child.stdin.write(one);
    });
  const cpuOfPong = (cmd) =>
    new Promise((resolve) => {
      text = '';
      reply = () => {
        if (text.endsWith('\n')) resolve(Number(text.trim()));
      };
      child.stdin.write(cmd);
    });
  (async () => {
    for (let i = 0; i < Math.min(200, n); i++) await roundTrip(); // warm both event loops up
    const pong0 = await cpuOfPong('s');
    const me0 = process.cpuUsage();
    const t = performance.now();
    for (let i = 0; i < n; i++) await roundTrip();
    const wallUs = (performance.now() - t) * 1000;
    const me = process.cpuUsage(me0);
    const pong1 = await cpuOfPong('q');
    process.stdout.write(`${JSON.stringify({ roundTripUs: wallUs / n, cpuUsPerRoundTrip: (me.user + me.system + pong1 - pong0) / n })}\n`);
  })().catch((err) => {
    process.stderr.write(`machine probe: ${err}\n`);
    process.exit(1);
  });
}

if (mode === 'core') process.stdout.write(`${JSON.stringify(core())}\n`);
else if (mode === 'pong') pong();
else if (mode === 'ping') ping(args[0], Number(args[1]));
else {
  process.stderr.write('usage: machine-probe-child.cjs core | ping CPU N | pong\n');
  process.exit(2);
}
