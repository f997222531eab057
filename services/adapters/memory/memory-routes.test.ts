import { routesContract } from '../../ports/routes.contract.js';
import { MemoryRoutes } from './memory-routes.js';

routesContract('memory', async () => ({ routes: new MemoryRoutes(), cleanup: async () => {} }));
