'use client';
import type { Conversation } from '@chat/protocol';
import { Avatar } from './avatar';
import { conversationTitle, otherMember, previewText } from './cache';
import { useChat } from './chat-provider';

function relative(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const today = new Date();
  return date.toDateString() === today.toDateString()
    ? date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : date.toLocaleDateString([], { month: 'short', day: 'numeric' });
}

export function ConversationList({ conversations, activeId, onOpen }: { conversations: Conversation[]; activeId: string | null; onOpen(id: string): void }) {
  const { me } = useChat();
  const meId = me!.id;
  if (conversations.length === 0) {
    return <p className="muted empty">No conversations yet. Open a product and message its seller.</p>;
  }
  return (
    <ul className="conversation-list" aria-label="Conversations">
      {conversations.map((c) => {
        const title = conversationTitle(c, meId);
        const other = otherMember(c, meId);
        const last = c.lastMessage;
        const lastFromMe = last?.senderId === meId;
        const unread = c.muted ? 0 : c.unreadCount;
        const label = `${title}${other ? (other.online ? ', online' : ', offline') : ''}${unread ? `, ${unread} unread` : ''}`;
        return (
          <li key={c.id}>
            <button
              type="button"
              className={`conversation-item${c.id === activeId ? ' conversation-item-active' : ''}${unread ? ' conversation-item-unread' : ''}`}
              onClick={() => onOpen(c.id)}
              aria-label={label}
              aria-current={c.id === activeId ? 'true' : undefined}
              data-testid="conversation-item"
              data-conversation-id={c.id}
            >
              <Avatar userId={other?.userId ?? c.id} image={other?.image} size={40} online={other ? other.online : undefined} />
              <span className="conversation-item-main">
                <span className="conversation-item-top">
                  <span className="conversation-item-title">{title}</span>
                  <span className="muted conversation-item-time">{relative(last?.createdAt ?? c.lastActivityAt)}</span>
                </span>
                <span className="conversation-item-bottom">
                  <span className="conversation-item-preview">
                    {lastFromMe && last && <span className="muted">You: </span>}
                    {previewText(last)}
                  </span>
                  {unread > 0 && (
                    <span className="badge" data-testid="unread-badge" aria-hidden="true">
                      {unread > 99 ? '99+' : unread}
                    </span>
                  )}
                </span>
              </span>
            </button>
          </li>
        );
      })}
    </ul>
  );
}
