// Request/response with a forked bench worker over IPC: send one message, wait for the reply
// of the expected type (or the worker's failure or exit).
import type { ChildProcess } from 'node:child_process';

export function request<T>(child: ChildProcess, msg: unknown, expect: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type: string; error?: string }) => {
      if (m.type === expect) {
        cleanup();
        resolve(m as T);
      } else if (m.type === 'failed') {
        cleanup();
        reject(new Error(`worker failed: ${m.error}`));
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`worker exited with ${code}`));
    };
    const cleanup = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(msg as object);
  });
}
