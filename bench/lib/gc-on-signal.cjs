// Preloaded into the measured server by bench/idle-connections.ts (node --require): on SIGUSR2
// it runs two full garbage collections, so that "heap used" and RSS are sampled with garbage
// removed (live objects only) rather than wherever the last GC happened to leave them.
'use strict';
const v8 = require('node:v8');
const vm = require('node:vm');
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
process.on('SIGUSR2', () => {
  gc();
  gc();
});
