'use client';
import type { Message } from '@chat/protocol';
import { useState, type FormEvent } from 'react';
import { conversationTitle, memberName } from './cache';
import { useChat, useConversations } from './chat-provider';

interface Segment {
  text: string;
  match: boolean;
}
type Hit = Message & { snippet?: Segment[] };

/** Search over the user's messages. Snippets are plain text segments; matches are marked, never parsed as HTML. */
export function SearchBox({ onOpen }: { onOpen(conversationId: string): void }) {
  const { client, me, e2e } = useChat();
  const { data: list } = useConversations();
  const [query, setQuery] = useState('');
  const [results, setResults] = useState<Hit[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const q = query.trim();
    if (!client || !q) return;
    setBusy(true);
    setError(null);
    try {
      // The service answers { results: SearchHit[] }; older SDK typings say { messages }.
      const page = (await client.http.search({ q })) as unknown as { results?: Hit[]; messages?: Hit[] };
      // The service cannot search encrypted conversations: their messages decrypted on this device are searched here.
      const local: Hit[] = (e2e?.decryptor.search(q) ?? []).map((m) => ({ ...m, snippet: highlight(m.body ?? '', q) }));
      setResults([...local, ...(page.results ?? page.messages ?? [])]);
    } catch (e) {
      setResults(null);
      setError(e instanceof Error ? e.message : 'Search failed.');
    } finally {
      setBusy(false);
    }
  }

  function clear() {
    setQuery('');
    setResults(null);
    setError(null);
  }

  return (
    <div className="search">
      <form role="search" onSubmit={submit} className="search-form">
        <label className="sr-only" htmlFor="chat-search">
          Search messages
        </label>
        <input
          id="chat-search"
          type="search"
          value={query}
          placeholder="Search messages"
          onChange={(e) => setQuery(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Escape' && (query || results)) {
              e.preventDefault();
              e.stopPropagation();
              clear();
            }
          }}
          maxLength={200}
        />
        <button type="submit" className="button button-small" disabled={busy || !query.trim()}>
          {busy ? 'Searching…' : 'Search'}
        </button>
      </form>
      {error && (
        <p className="error-text" role="alert">
          {error}
        </p>
      )}
      {results && (
        <div className="search-results" role="region" aria-label="Search results">
          <div className="search-results-head">
            <span className="muted" role="status">
              {results.length === 0 ? 'No messages found' : `${results.length} ${results.length === 1 ? 'message' : 'messages'} found`}
            </span>
            <button type="button" className="link-button" onClick={clear}>
              Clear search
            </button>
          </div>
          <ul>
            {results.map((hit) => {
              const conversation = list?.conversations.find((c) => c.id === hit.conversationId);
              const where = conversation && me ? conversationTitle(conversation, me.id) : 'Conversation';
              const sender = hit.senderId === me?.id ? 'You' : memberName(conversation, hit.senderId);
              // A direct chat is named for the other person: say who wrote it once ("Carol" or "You to Carol").
              const context =
                conversation?.kind === 'direct' ? (hit.senderId === me?.id ? `You to ${where}` : sender) : `${where} · ${sender}`;
              const segments = hit.snippet ?? [{ text: hit.body ?? '', match: false }];
              return (
                <li key={hit.id}>
                  <button type="button" className="search-hit" onClick={() => onOpen(hit.conversationId)}>
                    <span className="search-hit-where">
                      {context}
                    </span>
                    <span className="search-hit-text">
                      {segments.map((s, i) => (s.match ? <mark key={i}>{s.text}</mark> : <span key={i}>{s.text}</span>))}
                    </span>
                  </button>
                </li>
              );
            })}
          </ul>
        </div>
      )}
    </div>
  );
}

/** A local hit's text around its first match, the match marked. */
function highlight(text: string, q: string): Segment[] {
  const at = text.toLowerCase().indexOf(q.toLowerCase());
  if (at < 0) return [{ text, match: false }];
  const start = Math.max(0, at - 40);
  return [
    { text: (start > 0 ? '…' : '') + text.slice(start, at), match: false },
    { text: text.slice(at, at + q.length), match: true },
    { text: text.slice(at + q.length, at + q.length + 80), match: false },
  ];
}
