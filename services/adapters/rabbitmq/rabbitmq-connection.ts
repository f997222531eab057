// One AMQP connection kept alive: connects with backoff, runs a setup step after every
// (re)connect (declare topology, re-subscribe consumers, open the publishing channel), and only
// then reports ready. A lost connection (broker restart, network, heartbeat timeout) is logged
// and re-established the same way until close().
import { type ChannelModel, connect } from 'amqplib';
import { ImError } from '../../../protocol/errors.js';
import type { Logger } from '../../shared/logger.js';

export interface RabbitmqConnectionOptions {
  url: string;
  /** What this connection is for, in logs and in the broker's connection list ("publish", "consume"). */
  purpose: string;
  log: Logger;
  /** Runs after every successful connect, before ready() turns true; a throw drops the connection and retries. */
  setup: (model: ChannelModel) => Promise<void>;
  /** Called once the connection is ready (after setup), with the live model. */
  onReady?: (model: ChannelModel) => void;
  /** Called when a ready connection is lost. */
  onLost?: (err: Error | undefined) => void;
  /** Shown in the broker's connection list. */
  clientName?: string;
  /** Backoff between attempts: doubles from min to max, ±20 % jitter. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** AMQP heartbeat, seconds: how fast a silently dead broker is noticed. */
  heartbeatSec?: number;
}

/** The URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable URL>';
  }
}

const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class RabbitmqConnection {
  private model: ChannelModel | undefined;
  private isReady = false;
  private closing = false;
  private loop: Promise<void> | undefined;
  private wakeSleep: (() => void) | undefined;
  private readyWaiters = new Set<() => void>();
  private readonly where: string;

  constructor(private readonly opts: RabbitmqConnectionOptions) {
    this.where = redactUrl(opts.url);
  }

  /** Starts connecting in the background (idempotent). */
  start(): void {
    this.loop ??= this.run();
  }

  ready(): boolean {
    return this.isReady;
  }

  /** The live connection, only while ready. */
  current(): ChannelModel | undefined {
    return this.isReady ? this.model : undefined;
  }

  /** Resolves with the live connection; rejects IM_UNAVAILABLE after timeoutMs or once closed. */
  async waitReady(timeoutMs: number): Promise<ChannelModel> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.closing) throw new ImError('IM_UNAVAILABLE', `rabbitmq (${this.opts.purpose}): the bus is closed`);
      const model = this.current();
      if (model) return model;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new ImError(
          'IM_UNAVAILABLE',
          `rabbitmq (${this.opts.purpose}): not connected to ${this.where} after waiting ${timeoutMs} ms; retry with backoff`,
        );
      }
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.readyWaiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.readyWaiters.add(done);
      });
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    this.wakeSleep?.();
    this.wakeWaiters();
    const model = this.model;
    this.isReady = false;
    if (model) await model.close().catch(() => undefined);
    await this.loop?.catch(() => undefined);
  }

  private wakeWaiters(): void {
    for (const wake of [...this.readyWaiters]) wake();
  }

  /** The URL with a heartbeat unless it names one. */
  private connectUrl(): string {
    try {
      const u = new URL(this.opts.url);
      if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', String(this.opts.heartbeatSec ?? 10));
      return u.toString();
    } catch {
      return this.opts.url;
    }
  }

  private delay(attempt: number): number {
    const min = this.opts.minDelayMs ?? 100;
    const max = this.opts.maxDelayMs ?? 5_000;
    const base = Math.min(max, min * 2 ** Math.min(attempt - 1, 20));
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeSleep = undefined;
        resolve();
      }, ms);
      this.wakeSleep = () => {
        clearTimeout(timer);
        this.wakeSleep = undefined;
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    const { log, purpose } = this.opts;
    let attempt = 0;
    let everConnected = false;
    while (!this.closing) {
      attempt++;
      let model: ChannelModel | undefined;
      try {
        model = await connect(this.connectUrl(), {
          timeout: 10_000,
          // amqplib leaves Nagle on: a small publish or ack then waits for the broker's delayed
          // TCP ack (tens of ms) before it leaves this process.
          noDelay: true,
          clientProperties: { connection_name: `${this.opts.clientName ?? 'imcloud'} (${purpose})` },
        });
        let lostWith: Error | undefined;
        let lost = false;
        const closed = new Promise<void>((resolve) => {
          model!.once('close', (err?: Error) => {
            lost = true;
            lostWith = err;
            resolve();
          });
        });
        // 'error' precedes 'close'; without a listener it would crash the process.
        model.on('error', (err: Error) => log.warn({ err: describe(err), purpose }, `rabbitmq (${purpose}): connection error`));
        model.on('blocked', (reason: string) =>
          log.warn(
            { reason, purpose },
            `rabbitmq (${purpose}): the broker blocked publishing (${reason}); check its memory and disk alarms (rabbitmq-diagnostics alarms)`,
          ),
        );
        model.on('unblocked', () => log.info({ purpose }, `rabbitmq (${purpose}): the broker unblocked publishing`));
        this.model = model;
        await this.opts.setup(model);
        if (this.closing) break;
        if (lost) throw lostWith ?? new Error('connection closed during setup');
        this.isReady = true;
        log.info({ purpose, attempt }, `rabbitmq (${purpose}): ${everConnected ? 'reconnected' : 'connected'} to ${this.where}`);
        everConnected = true;
        attempt = 0;
        this.wakeWaiters();
        this.opts.onReady?.(model);
        await closed;
        this.isReady = false;
        this.model = undefined;
        if (this.closing) break;
        log.warn(
          { err: lostWith ? describe(lostWith) : undefined, purpose },
          `rabbitmq (${purpose}): connection to ${this.where} lost (${lostWith ? describe(lostWith) : 'closed'}); reconnecting. Publishes wait for the reconnect or fail with IM_UNAVAILABLE; consumers resubscribe`,
        );
        this.opts.onLost?.(lostWith);
      } catch (err) {
        this.isReady = false;
        this.model = undefined;
        const wasConnected = model !== undefined;
        if (model) await model.close().catch(() => undefined);
        if (this.closing) break;
        const wait = this.delay(attempt);
        const why = describe(err);
        const hint = wasConnected
          ? /PRECONDITION_FAILED|inequivalent/i.test(why)
            ? 'A queue or exchange exists with other arguments (another deliveryLimit or downstreamQueueMaxLength than this process): delete it or give every process the same settings'
            : 'Check the broker log, and that this user may configure, write and read the imcloud.* exchanges and queues'
          : 'Check that the broker is running and reachable from this pod (IMCLOUD_RABBITMQ_URL host and port), that the user, password and vhost in the URL are right, and the broker log';
        log.warn(
          { err: why, purpose, attempt, retryInMs: wait },
          wasConnected
            ? `rabbitmq (${purpose}): connected to ${this.where} but setting up the topology or subscriptions failed (attempt ${attempt}): ${why}; retrying in ${wait} ms. ${hint}`
            : `rabbitmq (${purpose}): attempt ${attempt} to connect to ${this.where} failed: ${why}; retrying in ${wait} ms. ${hint}`,
        );
        await this.sleep(wait);
      }
    }
    this.isReady = false;
    this.model = undefined;
  }
}
