// Every attack against the embedded mode: `imcloud all` as an OS process of its own.

import { groups } from './attacks/index.js';
import { attackSuite } from './harness/suite.js';

attackSuite('embedded', groups);
