/** One WebSocket upgrade attempt, classified: opened, refused with an HTTP answer, or a network error. */
import { WebSocket } from 'ws';

export type UpgradeOutcome =
  | { kind: 'opened'; closeCode: Promise<number> }
  | { kind: 'refused'; status: number; body: any }
  | { kind: 'network'; code: string };

export function tryUpgrade(url: string, token: string, timeoutMs = 5000): Promise<UpgradeOutcome> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, handshakeTimeout: timeoutMs });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve({ kind: 'network', code: error.code ?? error.message }));
    socket.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', () => resolve({ kind: 'network', code: 'RESPONSE_ERROR' }));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // left as text
        }
        socket.removeAllListeners('error');
        socket.on('error', () => {});
        socket.terminate();
        resolve({ kind: 'refused', status: response.statusCode ?? 0, body });
      });
    });
    socket.once('open', () => {
      const closeCode = new Promise<number>((done) => socket.once('close', (code) => done(code)));
      resolve({ kind: 'opened', closeCode });
      setTimeout(() => socket.terminate(), 3000).unref();
    });
  });
}
