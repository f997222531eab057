// What the parts of logic (logins, sends, cursors, pages) share: the role's configuration, its
// ports, the way down to clients, the apps it knows, its clock and its instruments.

import { ImError } from '../../protocol/errors.js';
import type { App } from '../ports/app-registry.js';
import type { Backends } from '../ports/backends.js';
import type { AppDirectory } from '../shared/app-directory.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { LogicConfig } from '../shared/role-config.js';
import type { Replies } from './replies.js';

/** What logic keeps of an app. */
export type AppPolicy = Pick<App, 'multiLogin' | 'limits' | 'webhook'>;

export interface LogicContext {
  config: LogicConfig;
  backends: Backends;
  replies: Replies;
  apps: AppDirectory<AppPolicy>;
  metrics: Metrics;
  log: Logger;
  now: () => number;
}

/** The caller's app; IM_APP_NOT_FOUND when there is none (ADR 0022). */
export async function appOf(cx: LogicContext, appId: string): Promise<AppPolicy> {
  const app = await cx.apps.get(appId);
  if (!app) throw new ImError('IM_APP_NOT_FOUND');
  return app;
}
