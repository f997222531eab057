// Every attack against the embedded mode: `imcloud all` as an OS process of its own.
import { attackSuite } from './harness/suite.js';
import { groups } from './attacks/index.js';

attackSuite('embedded', groups);
