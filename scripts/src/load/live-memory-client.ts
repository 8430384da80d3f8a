/** The sockets of `live-memory.ts`, in a process of their own: tokens arrive over IPC. */
import WebSocket from 'ws';

const url = process.argv[2]!;
const sockets: WebSocket[] = [];

function open(token: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
    socket.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { type: string };
      if (frame.type === 'ready') socket.send(JSON.stringify({ type: 'resume', id: '1', conversations: {} }));
      else if (frame.type === 'ack') resolve(socket);
    });
    socket.once('error', reject);
  });
}

process.on('message', async (message: string[] | 'close') => {
  if (message === 'close') {
    for (const socket of sockets) socket.terminate();
    process.exit(0);
  }
  for (let i = 0; i < message.length; i += 100) sockets.push(...(await Promise.all(message.slice(i, i + 100).map(open))));
  process.send!('open');
});
