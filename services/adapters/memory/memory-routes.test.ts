import { routesContract } from '../../ports/routes.contract.js';
import { MemoryRoutes } from './memory-routes.js';

// A fresh instance per test, on a manual clock: TTLs lapse at once instead of in real time.
routesContract('memory', async () => {
  let now = Date.now();
  return {
    routes: new MemoryRoutes(() => now),
    elapse: async (ms: number) => {
      now += ms;
    },
    cleanup: async () => {},
  };
});
