import { describe, expect, it } from 'vitest';
import { Outbox, type OutboxItem } from '../src/outbox.ts';
import { ChatError, MemoryStorage } from '../src/index.ts';

const item = (clientMsgId: string, createdAt: string): OutboxItem => ({
  clientMsgId,
  conversationId: '00000000-0000-4000-8000-000000000000',
  body: clientMsgId,
  replyToId: null,
  attachmentIds: [],
  createdAt,
  status: 'pending',
});

describe('outbox storage', () => {
  it('keeps items per site and user, in creation order', () => {
    const storage = new MemoryStorage();
    const alice = new Outbox(storage, 'chat.example', 'alice');
    alice.add(item('b', '2026-01-01T00:00:02.000Z'));
    alice.add(item('a', '2026-01-01T00:00:01.000Z'));
    expect(new Outbox(storage, 'chat.example', 'alice').list().map((i) => i.clientMsgId)).toEqual(['a', 'b']);
    expect(new Outbox(storage, 'chat.example', 'bob').list()).toEqual([]);
    expect(new Outbox(storage, 'other.example', 'alice').list()).toEqual([]);
    expect(storage.getItem('chat.outbox.v1:chat.example:alice')).toContain('"a"');
  });

  it('moves items queued before the user was known into the user key', () => {
    const storage = new MemoryStorage();
    const anonymous = new Outbox(storage, 's');
    anonymous.add(item('early', '2026-01-01T00:00:00.000Z'));
    const known = new Outbox(storage, 's', 'alice');
    expect(known.list().map((i) => i.clientMsgId)).toEqual(['early']);
    expect(storage.getItem('chat.outbox.v1:s:_')).toBeNull();
  });

  it('re-reads storage on every change, so two tabs do not overwrite each other', () => {
    const storage = new MemoryStorage();
    const tab1 = new Outbox(storage, 's', 'alice');
    const tab2 = new Outbox(storage, 's', 'alice');
    tab1.add(item('one', '2026-01-01T00:00:01.000Z'));
    tab2.add(item('two', '2026-01-01T00:00:02.000Z'));
    tab1.patch('one', { status: 'failed', error: { code: 'FORBIDDEN', message: 'no' } });
    expect(tab2.list().map((i) => [i.clientMsgId, i.status])).toEqual([['one', 'failed'], ['two', 'pending']]);
    tab2.remove('one');
    expect(tab1.pendingCount()).toBe(1);
  });

  it('survives corrupt storage and a storage that throws', () => {
    const storage = new MemoryStorage();
    storage.setItem('chat.outbox.v1:s:alice', '{not json');
    expect(new Outbox(storage, 's', 'alice').list()).toEqual([]);
    const full = { getItem: () => null, setItem: () => { throw new Error('quota'); }, removeItem: () => {} };
    const outbox = new Outbox(full, 's', 'alice');
    outbox.add(item('kept', '2026-01-01T00:00:00.000Z'));
    expect(outbox.list().map((i) => i.clientMsgId)).toEqual(['kept']);
  });
});

describe('ChatError', () => {
  it('keeps the server code, message and retryable flag', () => {
    const error = ChatError.fromBody({ code: 'RATE_LIMITED', message: 'slow down', retryable: true, details: { retryAfterMs: 250 } }, 429);
    expect(error).toMatchObject({ code: 'RATE_LIMITED', message: 'slow down', retryable: true, status: 429 });
    expect(error.retryAfterMs).toBe(250);
  });

  it('maps bodies without a known code by HTTP status, and client-side codes have defaults', () => {
    expect(ChatError.fromBody('<html>', 502).code).toBe('UNAVAILABLE');
    expect(ChatError.fromBody({}, 401).isAuth).toBe(true);
    expect(new ChatError('TIMEOUT').retryable).toBe(true);
    expect(new ChatError('DISCARDED').retryable).toBe(false);
  });
});
