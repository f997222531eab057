// An ioredis client whose commands of one event-loop turn leave in one socket write.
//
// ioredis's own automatic pipelining does the same with one Pipeline object per turn, but it
// keeps only one such pipeline in flight (the next turn's commands wait for every reply of the
// previous one), and under load its pipelines and everything they hold (commands, arguments,
// replies) survived young-generation collections: in logic at 1,000 msg/s ~6 MB was promoted to
// the old generation at every scavenge, which made each scavenge slow and brought a
// mark-compact every ~10 s. Corking the socket for the rest of the turn batches the writes
// without those objects (ADR 0019).
import { Redis } from 'ioredis';

export class TurnCorkedRedis extends Redis {
  private corked = false;

  override sendCommand(...args: Parameters<Redis['sendCommand']>): ReturnType<Redis['sendCommand']> {
    const socket = this.stream;
    if (!this.corked && this.status === 'ready' && socket) {
      this.corked = true;
      socket.cork();
      // Uncork the socket that was corked, even if a reconnect has replaced it since.
      process.nextTick(() => {
        this.corked = false;
        socket.uncork();
      });
    }
    return super.sendCommand(...args);
  }
}
