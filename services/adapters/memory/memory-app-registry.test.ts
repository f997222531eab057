import { appRegistryContract } from '../../ports/app-registry.contract.js';
import { MemoryAppRegistry } from './memory-app-registry.js';

// A fresh instance per test, on a manual clock: TTLs lapse at once instead of in real time.
appRegistryContract('memory', async () => {
  let now = Date.now();
  return {
    apps: new MemoryAppRegistry(() => now),
    elapse: async (ms: number) => {
      now += ms;
    },
    cleanup: async () => {},
  };
});
