// Every attack against the multi-process layout (two gates, two logic, two consumers, dispatch,
// admin, a file process) on real Redis, RabbitMQ, FerretDB and MinIO.

import { groups } from './attacks/index.js';
import { attackSuite } from './harness/suite.js';

attackSuite('multi-process', groups);
