// A certificate and key read from files (as a Kubernetes Secret mounts them) and read again when
// they change, so that a renewed certificate is served without a restart. Polling, not
// fs.watch: a Secret update swaps a symlink, which watchers on the old file never see.
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { ImError } from '../../protocol/errors.js';

export interface TlsMaterial {
  cert: string;
  key: string;
}

export class TlsFiles {
  private material: TlsMaterial;
  private readonly listeners: Array<(m: TlsMaterial) => void> = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly certFile: string,
    private readonly keyFile: string,
    private readonly log: Logger,
  ) {
    this.material = this.read();
  }

  /** The certificate and key to serve now. */
  current(): TlsMaterial {
    return this.material;
  }

  /** `fn` gets every new certificate and key once they have been read and checked. */
  onChange(fn: (m: TlsMaterial) => void): void {
    this.listeners.push(fn);
  }

  /** Checks the files every `pollMs`. */
  watch(pollMs: number): void {
    this.timer = setInterval(() => this.poll(), pollMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Reads the files again; notifies when they changed and hold a usable pair. */
  poll(): boolean {
    let next: TlsMaterial;
    try {
      next = this.read();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'tls: keeping the current certificate');
      return false;
    }
    if (next.cert === this.material.cert && next.key === this.material.key) return false;
    this.material = next;
    for (const fn of this.listeners) fn(next);
    this.log.info({ certFile: this.certFile }, 'tls: serving the renewed certificate');
    return true;
  }

  private read(): TlsMaterial {
    let m: TlsMaterial;
    try {
      m = { cert: readFileSync(this.certFile, 'utf8'), key: readFileSync(this.keyFile, 'utf8') };
    } catch (err) {
      throw new ImError(
        'IM_CONFIG_INVALID',
        `tls: cannot read ${(err as NodeJS.ErrnoException).path ?? 'the certificate or key'}: ${(err as Error).message}`,
      );
    }
    try {
      // Fails on a key that does not match the certificate, or on a half-written file.
      createSecureContext(m);
    } catch (err) {
      throw new ImError(
        'IM_CONFIG_INVALID',
        `tls: ${this.certFile} and ${this.keyFile} are not a usable certificate and key: ${(err as Error).message}`,
      );
    }
    return m;
  }
}
