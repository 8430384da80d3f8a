/** WebSocket upgrades that the server is expected to refuse, read as plain HTTP responses. */
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';

export interface RefusedUpgrade {
  status: number;
  contentType: string | undefined;
  body: any;
}

/**
 * Opens a real socket and resolves with the HTTP response when the server refuses the
 * upgrade ('unexpected-response'). Rejects if the socket opens: a refused credential
 * must never get as far as a WebSocket.
 */
export function refusedUpgrade(
  url: string,
  options: { headers?: Record<string, string>; protocols?: string[] } = {},
): Promise<RefusedUpgrade> {
  const socket = new WebSocket(url, options.protocols ?? [], { headers: options.headers ?? {} });
  return new Promise<RefusedUpgrade>((resolve, reject) => {
    socket.on('error', (error) => reject(error));
    socket.once('open', () => {
      socket.terminate();
      reject(new Error('the upgrade was accepted: a socket opened'));
    });
    socket.once('unexpected-response', (_request, response: IncomingMessage) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = text ? JSON.parse(text) : null;
        } catch {
          // left as text: the assertion on the body will show it
        }
        resolve({ status: response.statusCode ?? 0, contentType: response.headers['content-type'], body });
        // The response is read; drop the half-open client (the server already ends it).
        socket.removeAllListeners('error');
        socket.on('error', () => {});
        socket.terminate();
      });
    });
  });
}
