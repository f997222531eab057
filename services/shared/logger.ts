// Structured JSON logs (pino). Every role logs with its role and node id; message handling
// logs carry the trace id that follows a message across roles.
import { type Logger, pino } from 'pino';

export type { Logger };

export function createLogger(role: string, nodeId: string, level: string): Logger {
  return pino({ level, base: { role, node: nodeId }, timestamp: pino.stdTimeFunctions.isoTime });
}
