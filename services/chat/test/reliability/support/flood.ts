/**
 * A sender that never resumes (so it is subscribed to nothing and receives no events) and
 * keeps `window` sends in flight until `stop()` returns true or `max` were sent.
 */
import { WebSocket } from 'ws';

export interface Flood {
  socket: WebSocket;
  /** Resolves with the number of sends acknowledged. */
  done: Promise<number>;
}

export async function flood(
  url: string,
  token: string,
  conversationId: string,
  options: { tag: string; body: string | ((i: number) => string); max: number; window?: number; stop?: () => boolean },
): Promise<Flood> {
  const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  const window = options.window ?? 64;
  let sent = 0;
  let acked = 0;
  let inFlight = 0;
  const done = new Promise<number>((resolve, reject) => {
    const pump = () => {
      while (inFlight < window && sent < options.max && !options.stop?.()) {
        sent++;
        inFlight++;
        const body = typeof options.body === 'function' ? options.body(sent) : options.body;
        const id = `${options.tag}-${sent}`;
        socket.send(JSON.stringify({ type: 'message.send', id, conversationId, clientMsgId: id, body }));
      }
      if (inFlight === 0) resolve(acked);
    };
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.type === 'ack') {
        acked++;
        inFlight--;
        pump();
      } else if (frame.type === 'error') {
        reject(new Error(`flood send refused: ${frame.code} ${frame.message}`));
      }
    });
    socket.on('close', (code) => reject(new Error(`flood socket closed (${code})`)));
    pump();
  });
  done.catch(() => {});
  return { socket, done };
}
