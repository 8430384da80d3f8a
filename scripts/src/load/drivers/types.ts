/** What a scenario needs from a client, whatever system is under test. */
import type { LoadUser } from '../setup.ts';

export interface Delivery {
  conversationId: string;
  /** The conversation seq (ours, raw); null where the system has none (Socket.IO peer). */
  seq: number | null;
  senderId: string;
  clientMsgId: string;
  body: string;
  /** Payload bytes of the WebSocket frame that carried it, where the driver knows them. */
  bytes?: number;
}

export interface SendAck {
  seq: number | null;
  duplicate: boolean;
}

export interface SubscribeResult {
  conversations: { id: string; lastSeq: number | null }[];
  replayed: number;
}

export interface ClientEvents {
  onDelivery(delivery: Delivery): void;
  onClose(code: number, reason: string): void;
}

export interface LoadClient {
  readonly user: LoadUser;
  readonly open: boolean;
  /** Subscribes to the user's conversations (resume with these last seqs); resolves when live. */
  subscribe(lastSeqs: Record<string, number>): Promise<SubscribeResult>;
  send(conversationId: string, clientMsgId: string, body: string): Promise<SendAck>;
  close(): Promise<void>;
  /** Drops the connection without a close handshake. */
  terminate(): void;
  /** Rejects requests older than maxAgeMs (call periodically). */
  expire(maxAgeMs: number): void;
}

export type DriverName = 'ours' | 'socketio' | 'raw';

export interface Driver {
  readonly name: DriverName;
  /** Resolves once the connection is authenticated and usable (ours: the ready frame). */
  connect(target: string, user: LoadUser, events: ClientEvents, timeoutMs: number): Promise<LoadClient>;
}

export class RequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}
