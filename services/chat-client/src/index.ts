/**
 * @chat/client: the browser-first SDK of the chat service.
 *
 * @example
 * import { ChatClient } from '@chat/client';
 * const client = new ChatClient({ wsUrl, httpUrl, getToken });
 * client.on('state', (s) => setStatus(s.status));
 * client.on('event', (e) => apply(e));
 * client.connect();
 * const { done } = client.send({ conversationId, body: 'Hello' });
 */
export { ChatClient, type ChatClientEvents, type ChatClientOptions, type ConversationsInfo } from './client.ts';
export { canTransition, INITIAL_STATE, TRANSITIONS, type ConnectionState, type ConnectionStatus, type Transport } from './connection-state.ts';
export { ChatError, CLIENT_ERRORS, type ChatErrorCode, type ClientErrorCode } from './errors.ts';
export { ChatHttp, type EventsPage, type FetchLike, type HttpOptions, type PublicConversations } from './http.ts';
export { backoffCap, backoffDelay, type BackoffOptions } from './backoff.ts';
export type { OutboxItem, OutboxStatus } from './outbox.ts';
export type { SendInput } from './outbox-sender.ts';
export type { RequestFrame, RequestResults, TypingResult } from './requests.ts';
export { MemoryStorage, type StorageLike } from './storage.ts';
export type { WebSocketConstructor, WebSocketLike } from './socket.ts';
export type { ConversationEvent, Signal, SendResult, Message, Conversation, SearchPage, AttachmentRef } from '@chat/protocol';
export * from './e2e/index.ts';
export type { DeviceBundle, E2EPlaintext, Envelope } from '@chat/protocol';
export { E2E_ATTACHMENT } from '@chat/protocol';
