// Refusals under load must cost far less than serving (ADR 0021, 0024). Encoding one is cheap; a
// socket write each is not. A connection that is being refused is corked for a few milliseconds
// so that its refusals, and whatever else it is sent meanwhile, leave in one write.
import type { ClientConnection } from './client-connection.js';

export class RefusalWriter {
  private corked: ClientConnection[] = [];

  constructor(
    private readonly flushMs: number,
    /** Writes a frame to a connection (the gate's write, with its slow-reader check). */
    private readonly write: (conn: ClientConnection, frame: Uint8Array) => void,
  ) {}

  send(conn: ClientConnection, frame: Uint8Array): void {
    if (conn.state === 'closed') return;
    if (!conn.corked) {
      conn.corked = true;
      conn.transport.cork();
      this.corked.push(conn);
      if (this.corked.length === 1) setTimeout(this.flush, this.flushMs);
    }
    this.write(conn, frame);
  }

  private readonly flush = (): void => {
    const conns = this.corked;
    this.corked = [];
    for (const conn of conns) {
      conn.corked = false;
      conn.transport.uncork();
    }
  };
}
