// Every attack against the multi-process layout (two gates, two logic, two consumers, dispatch,
// admin) on real Redis, RabbitMQ and FerretDB.

import { groups } from './attacks/index.js';
import { attackSuite } from './harness/suite.js';

attackSuite('multi-process', groups);
