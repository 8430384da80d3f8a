'use client';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useCallback } from 'react';
import { ConnectionStatus } from './connection-status';
import { ConversationList } from './conversation-list';
import { ConversationView } from './conversation-view';
import { useChat, useConversations } from './chat-provider';
import { SearchBox } from './search-box';

/**
 * The messages UI: conversation list, search and the open conversation.
 * `panel` shows one of list or conversation at a time and keeps the open conversation in the
 * chat context; `page` takes it from the URL (`/messages/<id>`, `routeId`) and shows both side
 * by side on wide screens, one at a time (with a back button) on narrow ones.
 */
export function Messenger({ variant, routeId = null }: { variant: 'panel' | 'page'; routeId?: string | null }) {
  const chat = useChat();
  const router = useRouter();
  const { data, error, isLoading, mutate } = useConversations();
  const conversations = data?.conversations ?? [];
  const activeId = variant === 'page' ? routeId : chat.activeId;
  const active = conversations.find((c) => c.id === activeId) ?? null;
  const { setActiveId } = chat;
  const openConversation = useCallback(
    (id: string | null) => {
      if (variant === 'panel') setActiveId(id);
      else router.push(id ? `/messages/${id}` : '/messages');
    },
    [variant, setActiveId, router],
  );

  const list = (
    <div className="messenger-list">
      <SearchBox onOpen={openConversation} />
      {isLoading && <p className="muted empty">Loading conversations…</p>}
      {error && !data && (
        <p className="error-text empty" role="alert">
          Could not load conversations: {error.message}{' '}
          <button type="button" className="link-button" onClick={() => void mutate()}>
            Try again
          </button>
        </p>
      )}
      {data && <ConversationList conversations={conversations} activeId={activeId} onOpen={openConversation} />}
    </div>
  );

  if (variant === 'panel') {
    return (
      <div className="messenger messenger-panel">
        <ConnectionStatus />
        {active ? (
          <ConversationView key={active.id} conversation={active} onBack={() => openConversation(null)} autoFocus />
        ) : activeId !== null && data === undefined && !error ? (
          // A restored conversation waits for the list that holds it, instead of flashing the list first.
          <p className="muted empty" role="status">
            Loading conversation…
          </p>
        ) : (
          list
        )}
      </div>
    );
  }
  const missing = activeId !== null && !active && data !== undefined;
  return (
    <div className={`messenger messenger-page${activeId ? ' messenger-page-open' : ''}`}>
      <ConnectionStatus />
      <div className="messenger-columns">
        {list}
        <div className="messenger-main">
          {active ? (
            <ConversationView key={active.id} conversation={active} onBack={() => openConversation(null)} backOnNarrowOnly autoFocus />
          ) : missing ? (
            <div className="empty" role="alert">
              <p>This conversation is not available: it was deleted, or you are not a member.</p>
              <Link href="/messages">Back to conversations</Link>
            </div>
          ) : activeId ? (
            <p className="muted empty">Loading conversation…</p>
          ) : (
            <p className="muted empty">Choose a conversation.</p>
          )}
        </div>
      </div>
    </div>
  );
}
