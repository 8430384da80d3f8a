/** Request frames without their `id` (the client adds one), and the ack result of each type. */
import type { ChangeResult, ClientFrame, ClientFrameType, PingResult, RefreshResult, ResumeResult, SendResult } from '@chat/protocol';

/** Any client frame minus `id`, e.g. `{ type: 'read.mark', conversationId, upTo }`. */
export type RequestFrame = ClientFrame extends infer F ? (F extends { id: string } ? Omit<F, 'id'> : never) : never;

export interface TypingResult {
  /** False when the server debounced a repeated start (or a stop without a start). */
  forwarded: boolean;
}

/** The ack `result` of each request type. */
export interface RequestResults {
  ping: PingResult;
  resume: ResumeResult;
  'message.send': SendResult;
  'message.edit': ChangeResult;
  'message.delete': ChangeResult;
  'reaction.add': ChangeResult;
  'reaction.remove': ChangeResult;
  'read.mark': ChangeResult;
  'delivered.mark': ChangeResult;
  'typing.start': TypingResult;
  'typing.stop': TypingResult;
  'auth.refresh': RefreshResult;
}

// Fails to compile when the protocol gains a frame type this map does not cover.
type Exhaustive<T extends never> = T;
export type CoveredRequestTypes = Exhaustive<Exclude<ClientFrameType, keyof RequestResults>>;
