'use client';
import type { AttachmentRef, ReactionSummary } from '@chat/protocol';
import { useEffect, useRef, useState, type KeyboardEvent } from 'react';
import { Attachment } from './attachment';
import { Avatar } from './avatar';
import type { Tick } from './cache';
import { ClockIcon, EditIcon, ReplyIcon, TrashIcon } from './icons';

export const QUICK_REACTIONS = ['👍', '❤️', '😂', '🎉', '😮'] as const;

/** A history message or an outbox item, as the list shows it. */
export interface DisplayMessage {
  /** Stable across the pending → sent switch: the clientMsgId. */
  key: string;
  id: string | null;
  clientMsgId: string;
  seq: number | null;
  senderId: string;
  senderName: string;
  senderImage: string | null;
  body: string | null;
  deleted: boolean;
  edited: boolean;
  createdAt: string;
  replyTo: { id: string; senderName: string; preview: string | null } | null;
  attachments: AttachmentRef[];
  reactions: ReactionSummary[];
  mine: boolean;
  tick: Tick | null;
  error: string | null;
}

const TICK_LABEL: Record<Tick, string> = {
  pending: 'Sending',
  failed: 'Not sent',
  sent: 'Sent',
  delivered: 'Delivered',
  read: 'Read',
};

function TickMark({ tick }: { tick: Tick }) {
  const glyph = tick === 'pending' ? <ClockIcon /> : tick === 'failed' ? '!' : tick === 'sent' ? '✓' : '✓✓';
  return (
    <span className={`tick tick-${tick}`} data-testid="tick" data-tick={tick} title={TICK_LABEL[tick]}>
      <span aria-hidden="true">{glyph}</span>
      <span className="sr-only">{TICK_LABEL[tick]}</span>
    </span>
  );
}

function time(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export interface MessageActions {
  reply(message: DisplayMessage): void;
  edit(message: DisplayMessage, body: string): void;
  remove(message: DisplayMessage): void;
  react(message: DisplayMessage, emoji: string, add: boolean): void;
  retry(message: DisplayMessage): void;
  discard(message: DisplayMessage): void;
  jumpTo(messageId: string): void;
}

export function MessageItem({ message, me, showSender, actions }: { message: DisplayMessage; me: string; showSender: boolean; actions: MessageActions }) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(message.body ?? '');
  const [confirmDelete, setConfirmDelete] = useState(false);
  const editRef = useRef<HTMLTextAreaElement>(null);
  const sent = message.id !== null && !message.deleted;

  useEffect(() => {
    if (editing) {
      editRef.current?.focus();
      editRef.current?.select();
    }
  }, [editing]);

  function saveEdit() {
    const body = draft.trim();
    setEditing(false);
    if (body && body !== message.body) actions.edit(message, body);
  }

  function onEditKey(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      saveEdit();
    } else if (event.key === 'Escape') {
      // Cancels the edit only; the panel stays open.
      event.preventDefault();
      event.stopPropagation();
      setEditing(false);
      setDraft(message.body ?? '');
    }
  }

  const senderLabel = message.mine ? 'You' : message.senderName;
  return (
    <li
      className={`message ${message.mine ? 'message-mine' : 'message-theirs'}${message.tick === 'failed' ? ' message-failed' : ''}`}
      id={message.id ? `message-${message.id}` : undefined}
      data-testid="message"
      data-message-id={message.id ?? ''}
      data-client-msg-id={message.clientMsgId}
    >
      {!message.mine && (
        <span className="message-avatar">{showSender ? <Avatar userId={message.senderId} image={message.senderImage} size={28} /> : null}</span>
      )}
      <div className="message-column">
        {showSender && !message.mine && <div className="message-sender">{message.senderName}</div>}
        <div className="bubble">
          <span className="sr-only">{senderLabel}: </span>
          {message.replyTo && (
            <button type="button" className="quote" onClick={() => actions.jumpTo(message.replyTo!.id)} aria-label={`Reply to ${message.replyTo.senderName}: ${message.replyTo.preview ?? 'message deleted'}. Show original`}>
              <span className="quote-sender">{message.replyTo.senderName}</span>
              <span className="quote-text">{message.replyTo.preview ?? 'message deleted'}</span>
            </button>
          )}
          {message.deleted ? (
            <p className="message-body message-deleted" data-testid="message-body">
              message deleted
            </p>
          ) : editing ? (
            <div className="edit-box">
              <label className="sr-only" htmlFor={`edit-${message.key}`}>
                Edit message
              </label>
              <textarea id={`edit-${message.key}`} ref={editRef} value={draft} rows={2} onChange={(e) => setDraft(e.target.value)} onKeyDown={onEditKey} />
              <div className="edit-actions">
                <button type="button" className="button button-small" onClick={saveEdit}>
                  Save
                </button>
                <button
                  type="button"
                  className="button button-small button-ghost"
                  onClick={() => {
                    setEditing(false);
                    setDraft(message.body ?? '');
                  }}
                >
                  Cancel
                </button>
              </div>
            </div>
          ) : (
            // Rendered as text: React escapes it; no HTML from messages is ever interpreted.
            <p className="message-body" data-testid="message-body">
              {message.body}
            </p>
          )}
          {!message.deleted && message.attachments.length > 0 && (
            <div className="attachments">
              {message.attachments.map((a) => (
                <Attachment key={a.id} attachment={a} />
              ))}
            </div>
          )}
          <div className="message-meta">
            {message.edited && !message.deleted && <span className="muted">edited</span>}
            <time dateTime={message.createdAt}>{time(message.createdAt)}</time>
            {message.mine && message.tick && <TickMark tick={message.tick} />}
          </div>
        </div>
        {message.reactions.length > 0 && !message.deleted && (
          <div className="reactions" aria-label="Reactions">
            {message.reactions.map((r) => {
              const mineReacted = r.userIds.includes(me);
              return (
                <button
                  key={r.emoji}
                  type="button"
                  className={`reaction${mineReacted ? ' reaction-mine' : ''}`}
                  aria-pressed={mineReacted}
                  aria-label={`${r.emoji} ${r.count} ${r.count === 1 ? 'reaction' : 'reactions'}${mineReacted ? ', including yours. Remove yours' : '. Add yours'}`}
                  onClick={() => actions.react(message, r.emoji, !mineReacted)}
                  disabled={!sent}
                >
                  <span aria-hidden="true">{r.emoji}</span> <span aria-hidden="true">{r.count}</span>
                </button>
              );
            })}
          </div>
        )}
        {message.tick === 'failed' && (
          <div className="failed-row" role="alert">
            <span className="error-text">{message.error ?? 'Not sent.'}</span>
            <button type="button" className="button button-small" onClick={() => actions.retry(message)}>
              Retry
            </button>
            <button type="button" className="button button-small button-ghost" onClick={() => actions.discard(message)}>
              Discard
            </button>
          </div>
        )}
        {sent && !editing && (
          <div className={`message-actions${confirmDelete ? ' message-actions-open' : ''}`} role="group" aria-label={`Actions for message from ${senderLabel}`}>
            <button type="button" className="icon-button" onClick={() => actions.reply(message)} aria-label="Reply" title="Reply">
              <ReplyIcon />
            </button>
            {QUICK_REACTIONS.map((emoji) => {
              const mineReacted = message.reactions.some((r) => r.emoji === emoji && r.userIds.includes(me));
              return (
                <button
                  key={emoji}
                  type="button"
                  className="icon-button"
                  aria-pressed={mineReacted}
                  onClick={() => actions.react(message, emoji, !mineReacted)}
                  aria-label={`${mineReacted ? 'Remove reaction' : 'React with'} ${emoji}`}
                  title={`React with ${emoji}`}
                >
                  {emoji}
                </button>
              );
            })}
            {message.mine && (
              <>
                <button type="button" className="icon-button" onClick={() => setEditing(true)} aria-label="Edit message" title="Edit">
                  <EditIcon />
                </button>
                {confirmDelete ? (
                  <>
                    <button
                      type="button"
                      className="button button-small button-danger"
                      autoFocus
                      onClick={() => {
                        setConfirmDelete(false);
                        actions.remove(message);
                      }}
                    >
                      Delete
                    </button>
                    <button type="button" className="button button-small button-ghost" onClick={() => setConfirmDelete(false)}>
                      Keep
                    </button>
                  </>
                ) : (
                  <button type="button" className="icon-button" onClick={() => setConfirmDelete(true)} aria-label="Delete message" title="Delete">
                    <TrashIcon />
                  </button>
                )}
              </>
            )}
          </div>
        )}
      </div>
    </li>
  );
}
