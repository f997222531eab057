// The baseline of bench/idle-connections.ts: a bare `ws` server (default options, on a plain
// node:http server) that accepts WebSocket connections and does nothing with them.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const server = createServer();
const wss = new WebSocketServer({ server, perMessageDeflate: false });
let connections = 0;
wss.on('connection', (ws) => {
  connections++;
  ws.on('message', () => undefined);
  ws.on('close', () => connections--);
});
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.send!({ type: 'listening', port: typeof addr === 'object' && addr ? addr.port : 0 });
});
process.on('message', (msg: { type: string }) => {
  if (msg.type === 'memory') {
    const m = process.memoryUsage();
    process.send!({ type: 'memory', rss: m.rss, heapUsed: m.heapUsed, connections });
  } else if (msg.type === 'exit') {
    process.exit(0);
  }
});
