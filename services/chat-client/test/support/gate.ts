/**
 * A TCP port in front of the real service that can refuse everything (nothing speaks
 * WebSocket there: connections are dropped) or forward to the service.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface Gate {
  url: string;
  open: boolean;
  /** Connections accepted so far (dropped or forwarded). */
  attempts: number;
  close(): Promise<void>;
}

export async function startGate(target: string, open = false): Promise<Gate> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  const gate: Gate = { url: '', open, attempts: 0, close: async () => {} };
  const server: Server = createServer((socket) => {
    gate.attempts++;
    if (!gate.open) return void socket.destroy();
    const upstream = connect(Number(port), hostname);
    for (const s of [socket, upstream]) {
      sockets.add(s);
      s.on('error', () => {
        socket.destroy();
        upstream.destroy();
      });
      s.on('close', () => sockets.delete(s));
    }
    socket.pipe(upstream).pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  gate.url = `ws://127.0.0.1:${address.port}/ws`;
  gate.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return gate;
}
