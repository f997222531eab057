// The process's last line of defence. Every request, frame and socket has its own error
// handling; an error that escapes all of it is a bug, and one bug in one connection's handling
// must not take down every connection of the process. So it is logged with its stack and
// counted (imcloud_process_uncaught_errors_total, alerted on), and the process keeps serving,
// unless such errors keep coming (then the process exits and its supervisor restarts it,
// because its state may no longer be sound). ADR 0023.
import type { Logger } from 'pino';

export interface LastResortOptions {
  /** More uncaught exceptions than this within `windowMs` end the process. */
  maxExceptions: number;
  windowMs: number;
  exit: (code: number) => void;
}

export function installLastResortHandlers(
  log: Logger,
  count: (kind: string) => void,
  opts: LastResortOptions = { maxExceptions: 50, windowMs: 60_000, exit: (c) => process.exit(c) },
): () => void {
  const recent: number[] = [];
  // A process that cannot even write its log (its stdout's reader is gone: whoever ran it died)
  // has nobody left to serve or to tell: it ends instead of running on unseen.
  const write = (line: () => void) => {
    try {
      line();
    } catch {
      opts.exit(70);
    }
  };
  const onRejection = (reason: unknown) => {
    count('unhandledRejection');
    write(() => log.error({ err: (reason as Error)?.stack ?? String(reason) }, 'unhandled promise rejection (a bug: please report it)'));
  };
  const onException = (err: Error, origin: string) => {
    count('uncaughtException');
    write(() =>
      log.error({ err: err?.stack ?? String(err), origin }, 'uncaught exception (a bug: please report it); the process keeps running'),
    );
    const now = Date.now();
    recent.push(now);
    while (recent.length > 0 && recent[0]! < now - opts.windowMs) recent.shift();
    if (recent.length > opts.maxExceptions) {
      write(() =>
        log.fatal(
          { exceptions: recent.length, windowMs: opts.windowMs },
          'too many uncaught exceptions; exiting so that the process is restarted',
        ),
      );
      opts.exit(70);
    }
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return () => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  };
}
