// Every group of attacks, in the order they run against each target. Groups whose attacks may
// take a process down (the open ones of the hardening issue) come last, so that the held ones
// run on a target nothing has restarted.

import type { Group } from '../harness/suite.js';
import { authState } from './auth-state.js';
import { churn } from './churn.js';
import { fileAccess } from './file-access.js';
import { fileInput } from './file-input.js';
import { floods } from './floods.js';
import { framing } from './framing.js';
import { httpSurface } from './http-surface.js';
import { limits } from './limits.js';
import { overload } from './overload.js';
import { serverSend } from './server-send.js';
import { tenancy } from './tenancy.js';
import { tokens } from './tokens.js';

export const groups: Group[] = [
  tenancy,
  tokens,
  framing,
  limits,
  churn,
  floods,
  overload,
  fileAccess,
  fileInput,
  serverSend,
  authState,
  httpSurface,
];
