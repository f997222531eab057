// Every attack against the multi-process layout (two gates, two logic, two consumers, dispatch,
// admin) on real Redis, RabbitMQ and FerretDB.
import { attackSuite } from './harness/suite.js';
import { groups } from './attacks/index.js';

attackSuite('multi-process', groups);
