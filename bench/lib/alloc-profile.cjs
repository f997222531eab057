// Preloaded into the server by `bench/single-chat.ts --alloc-profile` (node --require): samples
// every allocation, including objects the GC has since collected, and writes the profile at
// SIGTERM to $IMCLOUD_BENCH_ALLOC_PROFILE. Allocation bytes per message do not depend on how
// busy the machine is, unlike CPU time.
'use strict';
const inspector = require('node:inspector');
const fs = require('node:fs');
const out = process.env.IMCLOUD_BENCH_ALLOC_PROFILE;
const session = new inspector.Session();
session.connect();
session.post('HeapProfiler.enable');
session.post('HeapProfiler.startSampling', {
  samplingInterval: 32768,
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: true,
});
process.prependListener('SIGTERM', () => {
  session.post('HeapProfiler.stopSampling', (err, res) => {
    if (!err && out) fs.writeFileSync(out, JSON.stringify(res.profile));
    process.exit(0);
  });
});
