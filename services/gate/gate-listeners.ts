// The gate's two transports: WebSocket (upgrades on the public HTTP listener, path /ws) and
// length-prefixed TCP, each over TLS when certificates are configured. Both hand the same
// frames to the gate through a ConnectionSink; neither lets a socket error or a malformed
// request reach the process (every socket has an error listener from its first moment).

import type { Server as HttpNodeServer, IncomingMessage } from 'node:http';
import { createServer as createTcpServer, type Socket, type Server as TcpServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer } from 'node:tls';
import * as ws from 'ws';
import { WebSocket, WebSocketServer } from 'ws';
import { ImError, toImError } from '../../protocol/errors.js';
import { encodeFrame, errorFrame, LengthPrefixedReader, lengthPrefixed } from '../../protocol/frame-codec.js';
import type { TlsFiles } from '../shared/tls-files.js';
import type { ClientConnection, Transport } from './client-connection.js';

/** How long a closed connection may take to flush before its socket is destroyed. */
const HARD_CLOSE_MS = 2_000;
/** A TLS handshake must finish within this. */
const TLS_HANDSHAKE_MS = 10_000;

export interface ConnectionSink {
  /** Whether a connection from `ip` may open now; counts it when it may (release with closed()). */
  admit(ip: string): ImError | null;
  open(transport: Transport, ip: string): ClientConnection;
  frame(conn: ClientConnection, bytes: Uint8Array): void;
  /** The transport could not make a frame of what arrived: refuse and close. */
  malformed(conn: ClientConnection, err: ImError): void;
  closed(conn: ClientConnection, reason: string): void;
  /** A socket that failed before it became a connection (counted, never thrown). */
  socketError(where: string, err: Error): void;
}

export interface ListenerOptions {
  maxFrameBytes: number;
}

/** Takes WebSocket upgrades for /ws from the public HTTP listener. */
export function acceptWebSockets(
  server: HttpNodeServer,
  sink: ConnectionSink,
  opts: ListenerOptions & { refuseAll: () => boolean },
): WebSocketServer {
  // ws closes (1009) past maxPayload by itself; frames between the limit and that get the
  // gate's IM_FRAME_TOO_LARGE error frame first.
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxFrameBytes * 4, perMessageDeflate: false, clientTracking: false });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Node removes its own error listener on upgrade: without one, a reset would end the process.
    const onEarlyError = (err: Error) => sink.socketError('upgrade', err);
    socket.on('error', onEarlyError);
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/ws' || opts.refuseAll()) return endHttp(socket, opts.refuseAll() ? '503 Service Unavailable' : '404 Not Found');
    const ip = req.socket.remoteAddress ?? '';
    const refused = sink.admit(ip);
    if (refused) return endHttp(socket, `429 Too Many Requests\r\nx-imcloud-error: ${refused.code}`);
    try {
      wss.handleUpgrade(req, socket, head, (ws) => {
        socket.off('error', onEarlyError);
        wireWebSocket(ws, socket, sink, ip);
      });
    } catch (err) {
      sink.socketError('upgrade', err as Error);
      socket.destroy();
    }
  });
  return wss;
}

function endHttp(socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  setTimeout(() => socket.destroy(), HARD_CLOSE_MS).unref();
}

/** ws's own framing (a named export of its ES module and a property of its CommonJS one; its typings leave it out). */
const { Sender } = ws as unknown as {
  Sender: { frame(data: Buffer, options: { fin: boolean; rsv1: boolean; opcode: number; mask: boolean; readOnly: boolean }): Buffer[] };
};
const WS_BINARY = { fin: true, rsv1: false, opcode: 2, mask: false, readOnly: true };

/** A binary WebSocket message as a server sends it (unmasked, one frame). */
function wsFrame(payload: Uint8Array): Buffer {
  return Buffer.concat(Sender.frame(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), WS_BINARY));
}

function wireWebSocket(ws: WebSocket, socket: Duplex, sink: ConnectionSink, ip: string): void {
  const transport: Transport = {
    kind: 'ws',
    send: (frame) => ws.send(frame, { binary: true }),
    // Straight to the socket, framed once for every connection: ws itself would frame it again
    // per connection and write header and payload apart. Safe without permessage-deflate, where
    // ws queues nothing and writes every frame to the socket at once as well.
    sendShared: (shared) => {
      if (ws.readyState === WebSocket.OPEN) socket.write(shared.for('ws', wsFrame));
    },
    bufferedAmount: () => ws.bufferedAmount,
    cork: () => socket.cork(),
    uncork: () => socket.uncork(),
    pauseReading: pauser(socket),
    close: (reason) => {
      ws.close(4000, reason.slice(0, 120));
      // A peer that never answers the closing handshake (or never reads) is cut off.
      setTimeout(() => ws.terminate(), HARD_CLOSE_MS).unref();
    },
  };
  const conn = sink.open(transport, ip);
  ws.on('message', (data, isBinary) => {
    if (!isBinary) return sink.malformed(conn, new ImError('IM_FRAME_MALFORMED', 'frames are binary WebSocket messages'));
    sink.frame(conn, Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer));
  });
  ws.on('close', () => sink.closed(conn, 'peer closed'));
  ws.on('error', () => sink.closed(conn, 'transport error'));
}

/** The TCP listener (TLS when `tls` is given); resolves with the port it listens on. */
export async function listenTcp(
  port: number,
  host: string,
  tls: TlsFiles | undefined,
  sink: ConnectionSink,
  opts: ListenerOptions,
): Promise<{ server: TcpServer; port: number }> {
  const onSocket = (socket: Socket) => wireTcp(socket, sink, opts);
  let server: TcpServer;
  if (tls) {
    const tlsServer = createTlsServer({ ...tls.current(), handshakeTimeout: TLS_HANDSHAKE_MS }, onSocket);
    tlsServer.on('tlsClientError', (err) => sink.socketError('tls handshake', err));
    tls.onChange((m) => tlsServer.setSecureContext(m));
    server = tlsServer;
  } else {
    server = createTcpServer(onSocket);
  }
  const bound = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
  server.on('error', (err) => sink.socketError('tcp listener', err));
  return { server, port: bound };
}

function wireTcp(socket: Socket, sink: ConnectionSink, opts: ListenerOptions): void {
  socket.on('error', (err) => sink.socketError('tcp', err));
  socket.setNoDelay(true);
  const ip = socket.remoteAddress ?? '';
  const refused = sink.admit(ip);
  const transport: Transport = {
    kind: 'tcp',
    send: (frame) => void socket.write(lengthPrefixed(frame)),
    sendShared: (shared) => void socket.write(shared.for('tcp', (f) => Buffer.from(lengthPrefixed(f)))),
    bufferedAmount: () => socket.writableLength,
    cork: () => socket.cork(),
    uncork: () => socket.uncork(),
    pauseReading: pauser(socket),
    close: () => {
      socket.end();
      setTimeout(() => socket.destroy(), HARD_CLOSE_MS).unref();
    },
  };
  if (refused) {
    transport.send(encodeFrame(errorFrame(refused)));
    transport.close(refused.code);
    return;
  }
  const conn = sink.open(transport, ip);
  const reader = new LengthPrefixedReader(opts.maxFrameBytes);
  socket.on('data', (chunk) => {
    let frames: Uint8Array[];
    try {
      frames = reader.push(chunk);
    } catch (err) {
      return sink.malformed(conn, toImError(err));
    }
    for (const f of frames) {
      if (conn.state === 'closed') return;
      sink.frame(conn, f);
    }
  });
  socket.on('close', () => sink.closed(conn, 'peer closed'));
  socket.on('error', () => sink.closed(conn, 'transport error'));
}

/** Pauses reading from a socket for a while; one pause at a time. */
function pauser(socket: Duplex): (ms: number) => void {
  let until = 0;
  return (ms) => {
    const now = Date.now();
    if (until > now || ms <= 0) return;
    until = now + ms;
    socket.pause();
    setTimeout(() => {
      if (!socket.destroyed) socket.resume();
    }, ms).unref();
  };
}
