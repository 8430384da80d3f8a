'use client';
import { ConnectionStatus } from './connection-status';
import { ConversationList } from './conversation-list';
import { ConversationView } from './conversation-view';
import { useChat, useConversations } from './chat-provider';
import { SearchBox } from './search-box';

/**
 * The messages UI: conversation list, search and the open conversation. `panel` shows
 * one of list or conversation at a time (narrow); `page` shows both side by side.
 */
export function Messenger({ variant }: { variant: 'panel' | 'page' }) {
  const { activeId, setActiveId } = useChat();
  const { data, error, isLoading, mutate } = useConversations();
  const conversations = data?.conversations ?? [];
  const active = conversations.find((c) => c.id === activeId) ?? null;

  const list = (
    <div className="messenger-list">
      <SearchBox onOpen={setActiveId} />
      {isLoading && <p className="muted empty">Loading conversations…</p>}
      {error && !data && (
        <p className="error-text empty" role="alert">
          Could not load conversations: {error.message}{' '}
          <button type="button" className="link-button" onClick={() => void mutate()}>
            Try again
          </button>
        </p>
      )}
      {data && <ConversationList conversations={conversations} activeId={activeId} onOpen={setActiveId} />}
    </div>
  );

  if (variant === 'panel') {
    return (
      <div className="messenger messenger-panel">
        <ConnectionStatus />
        {active ? <ConversationView key={active.id} conversation={active} onBack={() => setActiveId(null)} autoFocus /> : list}
      </div>
    );
  }
  return (
    <div className="messenger messenger-page">
      <ConnectionStatus />
      <div className="messenger-columns">
        {list}
        <div className="messenger-main">
          {active ? (
            <ConversationView key={active.id} conversation={active} autoFocus />
          ) : (
            <p className="muted empty">Choose a conversation.</p>
          )}
        </div>
      </div>
    </div>
  );
}
