/** A minimal protocol client for tests: real socket, request/ack correlation, frame log. */
import { WebSocket } from 'ws';
import { eventually } from './harness.ts';

export interface Frame {
  type: string;
  id?: string | null;
  [key: string]: any;
}

export class TestClient {
  readonly frames: Frame[] = [];
  closeCode: number | null = null;
  private counter = 0;
  private constructor(readonly socket: WebSocket) {}

  static async connect(url: string, options: { token?: string; headers?: Record<string, string>; protocols?: string[] } = {}): Promise<TestClient> {
    const headers = { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...options.headers };
    const socket = new WebSocket(url, options.protocols ?? [], { headers });
    const client = new TestClient(socket);
    socket.on('message', (data) => client.frames.push(JSON.parse(data.toString()) as Frame));
    socket.on('close', (code) => {
      client.closeCode = code;
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
      socket.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    });
    await client.waitFor((f) => f.type === 'ready');
    return client;
  }

  /** Connects and resumes (subscribes) with the given last seqs. */
  static async live(url: string, token: string, seqs: Record<string, number> = {}): Promise<TestClient> {
    const client = await TestClient.connect(url, { token });
    await client.request({ type: 'resume', conversations: seqs });
    return client;
  }

  sendRaw(data: string | Buffer, binary = false): void {
    this.socket.send(data, { binary });
  }

  /** Sends a request frame and resolves with its ack result; rejects with the error frame. */
  async request<R = any>(frame: Record<string, unknown>): Promise<R> {
    const id = (frame.id as string | undefined) ?? `r${++this.counter}`;
    this.socket.send(JSON.stringify({ ...frame, id }));
    const reply = await this.waitFor((f) => (f.type === 'ack' || f.type === 'error') && f.id === id);
    if (reply.type === 'error') throw Object.assign(new Error(`${reply.code}: ${reply.message}`), reply);
    return reply.result as R;
  }

  waitFor(predicate: (frame: Frame) => boolean, what = 'frame', timeoutMs = 10_000): Promise<Frame> {
    return eventually(() => this.frames.find(predicate), what, timeoutMs);
  }

  /** message.created events for a conversation, in arrival order. */
  messages(conversationId: string): Frame[] {
    return this.frames.filter((f) => f.type === 'message.created' && f.conversationId === conversationId);
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.close();
    });
  }

  waitClosed(): Promise<number> {
    return eventually(() => this.closeCode, 'close');
  }
}
