// Writing to a client connection and closing it, for every part of the gate. A client that reads
// too slowly would hold unbounded memory: past gate.maxBufferedBytes it is closed with
// IM_SLOW_CONSUMER, and reconnects and syncs (ADR 0007).
import { ImError } from '../../protocol/errors.js';
import { encodeFrame, errorFrame } from '../../protocol/frame-codec.js';
import type { Metrics } from '../shared/metrics.js';
import type { ClientConnection, SharedFrame } from './client-connection.js';

export class ClientWriter {
  constructor(
    private readonly maxBufferedBytes: number,
    private readonly metrics: Metrics,
    /** The gate forgets a connection once it is closed (ConnectionSink.closed). */
    private readonly closed: (conn: ClientConnection, reason: string) => void,
  ) {}

  /** One encoded frame (version byte included). */
  write(conn: ClientConnection, frame: Uint8Array): void {
    if (!this.writable(conn)) return;
    conn.transport.send(frame);
    this.metrics.framesOut.inc();
  }

  /** A frame many connections get, framed once (DownstreamWriter). */
  writeShared(conn: ClientConnection, frame: SharedFrame): void {
    if (!this.writable(conn)) return;
    conn.transport.sendShared(frame);
    this.metrics.framesOut.inc();
  }

  /** Open and keeping up; a slow reader is closed here. */
  private writable(conn: ClientConnection): boolean {
    if (conn.state === 'closed') return false;
    if (conn.transport.bufferedAmount() <= this.maxBufferedBytes) return true;
    this.close(conn, new ImError('IM_SLOW_CONSUMER'));
    return false;
  }

  /** An Error frame; the connection stays open. */
  sendError(conn: ClientConnection, err: ImError, reqId: number): void {
    this.metrics.errors.inc({ code: err.code, role: 'gate' });
    this.write(conn, encodeFrame(errorFrame(err, reqId)));
  }

  /** An Error frame, then close. */
  refuse(conn: ClientConnection, err: ImError, reqId: number): void {
    if (conn.state === 'closed') return;
    this.metrics.errors.inc({ code: err.code, role: 'gate' });
    // Bypass the buffer check: the error must be attempted even for a slow reader.
    conn.transport.send(encodeFrame(errorFrame(err, reqId)));
    this.close(conn, err);
  }

  /** Closes the connection; a slow reader and a draining gate say why first. */
  close(conn: ClientConnection, err: ImError | null): void {
    if (conn.state === 'closed') return;
    if (err?.code === 'IM_SLOW_CONSUMER' || err?.code === 'IM_DRAINING') {
      conn.transport.send(encodeFrame(errorFrame(err)));
    }
    conn.transport.close(err?.code ?? 'closed by server');
    this.closed(conn, err?.code ?? 'server close');
  }
}
