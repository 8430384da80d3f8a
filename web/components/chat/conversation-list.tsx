'use client';
import type { Conversation } from '@chat/protocol';
import { Avatar } from './avatar';
import { conversationTitle, firstName, memberName, otherMember, previewText } from './cache';
import { useChat } from './chat-provider';
import { currentOrigin, splitProduct } from './product-context';
import { LockBadge } from './e2e/lock-badge';

function relative(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const today = new Date();
  return date.toDateString() === today.toDateString()
    ? date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : date.toLocaleDateString([], { month: 'short', day: 'numeric' });
}

export function ConversationList({ conversations, activeId, onOpen }: { conversations: Conversation[]; activeId: string | null; onOpen(id: string): void }) {
  const { me, presenceKnown } = useChat();
  const origin = currentOrigin();
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
        // Presence is only claimed while it is current (the socket is up).
        const online = other && presenceKnown ? other.online : undefined;
        // Said right after the title (the button's name is its visible text plus these).
        const extra = `${online === undefined ? '' : online ? ', online' : ', offline'}${unread ? `, ${unread} unread` : ''}`;
        // Who wrote the last message: "You:" for mine; in groups the sender's first name too.
        const from = !last ? null : lastFromMe ? 'You' : c.kind === 'group' ? firstName(memberName(c, last.senderId)) : null;
        return (
          <li key={c.id}>
            <button
              type="button"
              className={`conversation-item${c.id === activeId ? ' conversation-item-active' : ''}${unread ? ' conversation-item-unread' : ''}`}
              onClick={() => onOpen(c.id)}
              aria-current={c.id === activeId ? 'true' : undefined}
              data-testid="conversation-item"
              data-conversation-id={c.id}
            >
              <Avatar userId={other?.userId ?? c.id} image={other?.image} size={40} online={online} />
              <span className="conversation-item-main">
                <span className="conversation-item-top">
                  <span className="conversation-item-title">
                    {title}
                    {c.encrypted && <LockBadge size={12} />}
                    {extra && <span className="sr-only">{extra}</span>}
                  </span>
                  <span className="muted conversation-item-time">{relative(last?.createdAt ?? c.lastActivityAt)}</span>
                </span>
                <span className="conversation-item-bottom">
                  <span className="conversation-item-preview">
                    {from && <span className="muted">{from}: </span>}
                    {productPreview(last, origin) ?? previewText(last)}
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

/** A message about a product: its text, then the product's name (not the link). */
function productPreview(message: Conversation['lastMessage'], origin: string | null): string | null {
  const split = message && !message.deletedAt ? splitProduct(message.body, origin) : null;
  if (!split) return null;
  return split.text ? `${split.text} · ${split.product.name}` : split.product.name;
}
