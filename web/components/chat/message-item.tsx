'use client';
import type { AttachmentRef, ReactionSummary } from '@chat/protocol';
import type { Product } from '@/lib/products';
import { useRouter } from 'next/navigation';
import { useCallback, useEffect, useRef, useState, type KeyboardEvent, type MouseEvent } from 'react';
import { Attachment } from './attachment';
import { Avatar } from './avatar';
import { DELETED_TEXT, type Tick } from './cache';
import { ClockIcon, EditIcon, MoreIcon, ReplyIcon, SmileIcon, TrashIcon } from './icons';
import { MessageToolbar, type ToolbarItem } from './message-toolbar';
import { isVoiceCaption } from './voice';
import { ProductCard } from './product-context';
import type { E2EState } from './e2e/message-states';

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
  /** The text as shown: without the product link line when `product` is set. */
  body: string | null;
  /** The storefront product this message is about (its link was the body's last line). */
  product: Product | null;
  deleted: boolean;
  edited: boolean;
  createdAt: string;
  replyTo: { id: string; senderName: string; preview: string | null } | null;
  attachments: AttachmentRef[];
  reactions: ReactionSummary[];
  mine: boolean;
  tick: Tick | null;
  /** Mine, in a group: the names of the other members who have read it, and how many others there are. */
  seen: { names: string[]; of: number } | null;
  error: string | null;
  /** In an encrypted conversation: whether it opened on this device ('ok'), or why not (the body then says so). */
  e2e: E2EState | null;
}

const TICK_LABEL: Record<Tick, string> = {
  pending: 'Sending',
  failed: 'Not sent',
  sent: 'Sent',
  delivered: 'Delivered',
  read: 'Read',
};

function TickMark({ tick, hidden }: { tick: Tick; hidden?: boolean }) {
  if (hidden) {
    // Not the last of a run: the status is still there for screen readers (and tests), not on screen.
    return (
      <span className="sr-only" data-testid="tick" data-tick={tick}>
        {TICK_LABEL[tick]}
      </span>
    );
  }
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

/**
 * `showMeta`: the last message of a run (same sender, minutes apart) shows the time and
 * status; the others keep them for screen readers only.
 */
export function MessageItem({ message, me, showSender, showMeta, actions }: { message: DisplayMessage; me: string; showSender: boolean; showMeta: boolean; actions: MessageActions }) {
  const router = useRouter();
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(message.body ?? '');
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [pinned, setPinned] = useState(false);
  const [menuOpen, setMenuOpen] = useState(false);
  const [showSeen, setShowSeen] = useState(false);
  const editRef = useRef<HTMLTextAreaElement>(null);
  const seenRef = useRef<HTMLDivElement>(null);
  const itemRef = useRef<HTMLLIElement>(null);
  // A message that did not open is not valid text: nothing to reply to, react to or edit.
  const problem = message.e2e !== null && message.e2e !== 'ok';
  const sent = message.id !== null && !message.deleted && !problem;

  useEffect(() => {
    if (editing) {
      editRef.current?.focus();
      editRef.current?.select();
    }
  }, [editing]);
  useEffect(() => {
    if (showSeen) seenRef.current?.focus();
  }, [showSeen]);

  function focusToolbar() {
    itemRef.current?.querySelector<HTMLElement>('[role="toolbar"] > button[tabindex="0"]')?.focus();
  }

  function saveEdit() {
    const body = draft.trim();
    setEditing(false);
    if (body && body !== message.body) actions.edit(message, body);
    requestAnimationFrame(focusToolbar);
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
      requestAnimationFrame(focusToolbar);
    }
  }

  // A tap on the bubble (touch screens have no hover) shows its toolbar.
  function onBubbleClick(event: MouseEvent<HTMLElement>) {
    if ((event.target as HTMLElement).closest('button, a, textarea, audio, input')) return;
    setPinned((p) => !p);
  }

  const onMenuChange = useCallback((open: boolean) => setMenuOpen(open), []);

  const senderLabel = message.mine ? 'You' : message.senderName;
  const voice = isVoiceCaption(message.body) && message.attachments.some((a) => a.contentType.startsWith('audio/'));
  const seen = message.seen;
  const seenText = seen && seen.names.length > 0 && message.tick !== 'read' ? `Seen by ${seen.names.length}` : null;
  const toolbar: ToolbarItem[] = [];
  if (sent) {
    toolbar.push({ key: 'reply', label: 'Reply', icon: <ReplyIcon />, onSelect: () => actions.reply(message) });
    const extra = message.reactions.map((r) => r.emoji).filter((e) => !(QUICK_REACTIONS as readonly string[]).includes(e));
    toolbar.push({
      key: 'react',
      label: 'React',
      menuLabel: 'Reactions',
      icon: <SmileIcon />,
      menu: (close) =>
        [...QUICK_REACTIONS, ...extra].map((emoji) => {
          const mineReacted = message.reactions.some((r) => r.emoji === emoji && r.userIds.includes(me));
          return (
            <button
              key={emoji}
              type="button"
              role="menuitemcheckbox"
              aria-checked={mineReacted}
              className="menu-emoji"
              tabIndex={-1}
              aria-label={`${mineReacted ? 'Remove reaction' : 'React with'} ${emoji}`}
              onClick={() => {
                actions.react(message, emoji, !mineReacted);
                close();
              }}
            >
              {emoji}
            </button>
          );
        }),
    });
    // Everything else is in one "More" menu, so the toolbar stays three buttons wide (it sits
    // beside the bubble) and the message one tab stop.
    const replyTarget = message.replyTo?.id ?? null;
    const product = message.deleted ? null : message.product;
    if (replyTarget || product || message.mine) {
      toolbar.push({
        key: 'more',
        label: 'More actions',
        icon: <MoreIcon />,
        menu: (close) =>
          confirmDelete ? (
            <>
              <button type="button" role="menuitem" tabIndex={-1} className="menu-item menu-item-danger" onClick={() => { setConfirmDelete(false); close(false); actions.remove(message); }}>
                <TrashIcon /> Delete for everyone
              </button>
              <button type="button" role="menuitem" tabIndex={-1} className="menu-item" onClick={() => { setConfirmDelete(false); close(); }}>
                Keep message
              </button>
            </>
          ) : (
            <>
              {replyTarget && (
                <button type="button" role="menuitem" tabIndex={-1} className="menu-item" onClick={() => { close(); actions.jumpTo(replyTarget); }}>
                  <QuoteIcon /> Show the quoted message
                </button>
              )}
              {product && (
                <button type="button" role="menuitem" tabIndex={-1} className="menu-item" onClick={() => { close(false); router.push(`/products/${product.id}`); }}>
                  Open {product.name}
                </button>
              )}
              {message.mine && (
                <button type="button" role="menuitem" tabIndex={-1} className="menu-item" onClick={() => { close(false); setEditing(true); }}>
                  <EditIcon /> Edit
                </button>
              )}
              {message.mine && seen && (
                <button type="button" role="menuitem" tabIndex={-1} className="menu-item" onClick={() => { close(false); setShowSeen(true); }}>
                  Seen by {seen.names.length} of {seen.of}…
                </button>
              )}
              {message.mine && (
                <button
                  type="button"
                  role="menuitem"
                  tabIndex={-1}
                  className="menu-item"
                  onClick={(event) => {
                    setConfirmDelete(true);
                    // The menu re-renders with the confirmation; keep focus in it.
                    const menu = (event.currentTarget as HTMLElement).closest('[role="menu"]');
                    requestAnimationFrame(() => menu?.querySelector<HTMLElement>('[role="menuitem"]')?.focus());
                  }}
                >
                  <TrashIcon /> Delete…
                </button>
              )}
            </>
          ),
      });
    }
  }

  useEffect(() => {
    if (!menuOpen) setConfirmDelete(false);
  }, [menuOpen]);

  return (
    <li
      ref={itemRef}
      className={`message ${message.mine ? 'message-mine' : 'message-theirs'}${message.tick === 'failed' ? ' message-failed' : ''}${pinned || menuOpen || showSeen ? ' message-pinned' : ''}${showMeta ? ' message-run-end' : ''}`}
      id={message.id ? `message-${message.id}` : undefined}
      data-testid="message"
      data-message-id={message.id ?? ''}
      data-client-msg-id={message.clientMsgId}
      onMouseLeave={() => setPinned(false)}
    >
      {!message.mine && (
        <span className="message-avatar">{showSender ? <Avatar userId={message.senderId} image={message.senderImage} size={28} /> : null}</span>
      )}
      <div className="message-column">
        {showSender && !message.mine && <div className="message-sender">{message.senderName}</div>}
        <div className="bubble-row">
          <div className="bubble" onClick={onBubbleClick} data-testid="bubble">
            <span className="sr-only">{senderLabel}: </span>
            {message.replyTo && (
              // The More menu's "Show the quoted message" is the keyboard path: one tab stop per message.
              <button type="button" className="quote" tabIndex={-1} onClick={() => actions.jumpTo(message.replyTo!.id)}>
                <span className="quote-sender">
                  <span className="sr-only">Reply to </span>
                  {message.replyTo.senderName}
                  <span className="sr-only">: </span>
                </span>
                <span className="quote-text">{message.replyTo.preview ?? DELETED_TEXT}</span>
                <span className="sr-only">. Show original</span>
              </button>
            )}
            {message.deleted ? (
              <p className="message-body message-deleted" data-testid="message-body">
                {DELETED_TEXT}
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
            ) : problem ? (
              <p className="message-body message-e2e-problem" data-testid="message-body" data-e2e={message.e2e}>
                <span aria-hidden="true">⚠ </span>
                {message.body}
              </p>
            ) : (
              // Rendered as text: React escapes it; no HTML from messages is ever interpreted.
              // A voice message's generated caption is for lists and screen readers: the player shows it.
              <p className={`message-body${voice ? ' sr-only' : ''}`} data-testid="message-body">
                {message.body}
              </p>
            )}
            {!message.deleted && message.product && <ProductCard product={message.product} tabbable={false} />}
            {!message.deleted && message.attachments.length > 0 && (
              <div className="attachments">
                {message.attachments.map((a) => (
                  <Attachment key={a.id} attachment={a} />
                ))}
              </div>
            )}
            <div className={`message-meta${showMeta || message.edited ? '' : ' sr-only'}`}>
              {message.edited && !message.deleted && <span className="muted">edited</span>}
              <time dateTime={message.createdAt} className={showMeta ? undefined : 'sr-only'}>
                {time(message.createdAt)}
              </time>
              {message.mine && message.tick && <TickMark tick={message.tick} hidden={!showMeta} />}
              {showMeta && seenText && (
                <button type="button" className="seen-by" tabIndex={-1} onClick={() => setShowSeen((v) => !v)} aria-expanded={showSeen} data-testid="seen-by">
                  {seenText}
                </button>
              )}
            </div>
          </div>
          {/* Kept (hidden) while editing: focus returns to the button it left from. */}
          {toolbar.length > 0 && <MessageToolbar label={`Actions for message from ${senderLabel}`} items={toolbar} align={message.mine ? 'start' : 'end'} onOpenChange={onMenuChange} hidden={editing} />}
        </div>
        {showSeen && seen && (
          <div
            ref={seenRef}
            className="seen-list"
            role="group"
            aria-label={`Seen by ${seen.names.length} of ${seen.of}`}
            tabIndex={-1}
            data-testid="seen-list"
            onKeyDown={(event) => {
              if (event.key === 'Escape') {
                event.preventDefault();
                event.stopPropagation();
                setShowSeen(false);
                focusToolbar();
              }
            }}
            onBlur={(event) => !event.currentTarget.contains(event.relatedTarget as Node | null) && setShowSeen(false)}
          >
            <strong>Seen by {seen.names.length} of {seen.of}</strong>
            {seen.names.length > 0 ? (
              <ul>
                {seen.names.map((n) => (
                  <li key={n}>{n}</li>
                ))}
              </ul>
            ) : (
              <p className="muted">Nobody yet.</p>
            )}
          </div>
        )}
        {message.reactions.length > 0 && !message.deleted && (
          <div className="reactions" aria-label="Reactions">
            {message.reactions.map((r) => {
              const mineReacted = r.userIds.includes(me);
              return (
                // Mouse shortcuts; the toolbar's reaction menu is the keyboard path (one tab stop per message).
                <button
                  key={r.emoji}
                  type="button"
                  tabIndex={-1}
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
      </div>
    </li>
  );
}

function QuoteIcon() {
  return (
    <svg className="icon" width={16} height={16} viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth={2} strokeLinecap="round" strokeLinejoin="round" aria-hidden="true" focusable="false">
      <path d="M4 12V7h6v5c0 3-2 5-5 5" />
      <path d="M14 12V7h6v5c0 3-2 5-5 5" />
    </svg>
  );
}
