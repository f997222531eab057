import { busContract } from '../../ports/bus.contract.js';
import { MemoryBus } from './memory-bus.js';

busContract('memory', async (opts = {}) => {
  const bus = new MemoryBus({ deliveryLimit: 4, upstreamMaxBytes: opts.upstreamMaxBytes });
  return { bus, deliveryLimit: 4, quietMs: 50, cleanup: () => bus.close() };
});
