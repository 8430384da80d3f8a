'use client';
import type { AttachmentRef } from '@chat/protocol';
import { forwardRef, useEffect, useImperativeHandle, useLayoutEffect, useRef, useState, type ChangeEvent, type KeyboardEvent } from 'react';
import { useChat } from './chat-provider';
import { CloseIcon, PaperclipIcon } from './icons';
import { canRecord, MicButton, VoiceRecorder, voiceCaption, type Recording } from './voice';
import { findProduct } from '@/lib/products';
import { ProductCard, withProduct } from './product-context';
import { sendSealed, uploadSealed } from './e2e/sealed-send';
import type { SealedAttachment } from './e2e/message-states';

/** Re-send `typing.start` at most this often while the user keeps typing. */
const TYPING_REFRESH_MS = 3000;
/** Send `typing.stop` after this long without a keystroke. */
const TYPING_IDLE_MS = 4000;
const MAX_ATTACHMENTS = 10;
/** The message box grows with its text up to this many pixels, then scrolls. */
const MAX_INPUT_PX = 160;

/** Height to fit the text (the box grows and shrinks with it); a scrollbar only past the maximum. */
function fitHeight(el: HTMLTextAreaElement): void {
  el.style.height = 'auto';
  const full = el.scrollHeight + (el.offsetHeight - el.clientHeight);
  el.style.height = `${Math.min(full, MAX_INPUT_PX)}px`;
  el.style.overflowY = full > MAX_INPUT_PX ? 'auto' : 'hidden';
}

export interface ReplyTarget {
  id: string;
  senderId: string;
  senderName: string;
  preview: string;
}

interface Upload {
  key: string;
  filename: string;
  ref: AttachmentRef | null;
  error: string | null;
}

export interface ComposerHandle {
  focus(): void;
}

export const Composer = forwardRef<ComposerHandle, {
  conversationId: string;
  replyTo: ReplyTarget | null;
  onCancelReply(): void;
  onSent(): void;
  /** End-to-end encrypted: sealed on this device (no voice messages). */
  encrypted?: boolean;
  /** Why sending is off (waiting for the other person's keys), or null. */
  blocked?: string | null;
}>(function Composer({ conversationId, replyTo, onCancelReply, onSent, encrypted = false, blocked = null }, ref) {
  const { client, bumpOutbox, applyMessage, productDrafts, setProductDraft, e2e } = useChat();
  const draftProduct = productDrafts[conversationId] ? findProduct(productDrafts[conversationId]!) : undefined;
  const [text, setText] = useState('');
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [recording, setRecording] = useState(false);
  const [sendingVoice, setSendingVoice] = useState(false);
  const [recorderAvailable, setRecorderAvailable] = useState(false);
  const textRef = useRef<HTMLTextAreaElement>(null);
  const fileRef = useRef<HTMLInputElement>(null);
  const typingSince = useRef<number | null>(null);
  const idleTimer = useRef<ReturnType<typeof setTimeout> | null>(null);

  useImperativeHandle(ref, () => ({ focus: () => textRef.current?.focus() }), []);

  useLayoutEffect(() => {
    if (textRef.current) fitHeight(textRef.current);
  }, [text, recording]);

  // After hydration: the server cannot know whether this browser records.
  useEffect(() => setRecorderAvailable(canRecord()), []);

  /** Uploads a finished recording and sends it as a voice message (replying, if a reply was set). */
  async function sendVoice(recording: Recording) {
    setRecording(false);
    if (!client) return;
    setSendingVoice(true);
    setError(null);
    try {
      const ref = await client.http.upload(conversationId, recording.blob, recording.filename);
      // The caption is what lists, notifications and older clients show; the bubble shows the player.
      const { done } = client.send({
        conversationId,
        body: voiceCaption(recording.seconds),
        attachmentIds: [ref.id],
        ...(replyTo ? { replyToId: replyTo.id } : {}),
      });
      done.then(
        ({ message }) => {
          applyMessage(message);
          bumpOutbox();
        },
        () => bumpOutbox(),
      );
      bumpOutbox();
      onCancelReply();
      onSent();
    } catch (e) {
      setError(e instanceof Error ? `Voice message not sent: ${e.message}` : 'Voice message not sent.');
    } finally {
      setSendingVoice(false);
      textRef.current?.focus();
    }
  }

  function stopTyping() {
    if (idleTimer.current) clearTimeout(idleTimer.current);
    idleTimer.current = null;
    if (typingSince.current === null || !client) return;
    typingSince.current = null;
    Promise.resolve(client.typing(conversationId, 'stop')).catch(() => {});
  }

  function noteTyping(value: string) {
    if (!client) return;
    if (value.trim() === '') return stopTyping();
    const now = Date.now();
    if (typingSince.current === null || now - typingSince.current >= TYPING_REFRESH_MS) {
      typingSince.current = now;
      Promise.resolve(client.typing(conversationId, 'start')).catch(() => {});
    }
    if (idleTimer.current) clearTimeout(idleTimer.current);
    idleTimer.current = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  // Leaving the conversation (or unmounting) ends the indicator.
  useEffect(() => {
    return () => stopTyping();
    // Only the conversation and client matter: stopTyping reads refs.
  }, [conversationId, client]);

  function onChange(event: ChangeEvent<HTMLTextAreaElement>) {
    setText(event.target.value);
    setError(null);
    noteTyping(event.target.value);
  }

  const uploading = uploads.some((u) => !u.ref && !u.error);
  const ready = uploads.filter((u) => u.ref).map((u) => u.ref!);

  function send() {
    if (!client || uploading || blocked) return;
    const typed = text.trim();
    if (!typed && ready.length === 0) return;
    // The service needs some text: a files-only message is captioned with their names.
    const caption = typed || `📎 ${ready.map((a) => a.filename).join(', ')}`;
    // Started from a product page: the message carries the product's link (shown as its card).
    const body = draftProduct ? withProduct(caption, draftProduct.id) : caption;
    if (draftProduct) setProductDraft(conversationId, null);
    const sent = encrypted && e2e
      ? sendSealed(e2e, { conversationId, replyToId: replyTo?.id ?? null, plaintext: { body, quote: replyTo ? { senderId: replyTo.senderId, preview: replyTo.preview } : null, attachments: ready as SealedAttachment[] } }, bumpOutbox)
      : client.send({
      conversationId,
      body,
      ...(replyTo ? { replyToId: replyTo.id } : {}),
      ...(ready.length ? { attachmentIds: ready.map((a) => a.id) } : {}),
    }).done;
    // The outcome (sent or failed) shows in the message list; nothing to do here but refresh it.
    sent.then(
      ({ message }) => {
        applyMessage(message);
        bumpOutbox();
      },
      (e: unknown) => {
        bumpOutbox();
        // Sealing happens before the outbox: a failure there (unverifiable keys) is said here.
        if (encrypted) setError(`Not sent: ${e instanceof Error ? e.message : 'the message could not be sealed.'}`);
      },
    );
    bumpOutbox();
    stopTyping();
    setText('');
    setUploads([]);
    onCancelReply();
    onSent();
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      send();
    } else if (event.key === 'Escape' && replyTo) {
      // First Escape cancels the reply; the next one closes the panel.
      event.preventDefault();
      event.stopPropagation();
      onCancelReply();
    }
  }

  async function onFiles(event: ChangeEvent<HTMLInputElement>) {
    const files = [...(event.target.files ?? [])];
    event.target.value = '';
    if (!client || files.length === 0) return;
    const room = MAX_ATTACHMENTS - uploads.length;
    if (files.length > room) setError(`At most ${MAX_ATTACHMENTS} files per message.`);
    for (const file of files.slice(0, Math.max(0, room))) {
      const key = `${file.name}-${Math.random().toString(36).slice(2)}`;
      setUploads((list) => [...list, { key, filename: file.name, ref: null, error: null }]);
      (encrypted && e2e ? uploadSealed(e2e, conversationId, file) : client.http.upload(conversationId, file, file.name)).then(
        (attachment) => setUploads((list) => list.map((u) => (u.key === key ? { ...u, ref: attachment } : u))),
        (e: unknown) => setUploads((list) => list.map((u) => (u.key === key ? { ...u, error: e instanceof Error ? e.message : 'Upload failed.' } : u))),
      );
    }
    textRef.current?.focus();
  }

  const canSend = !!client && !blocked && !uploading && (text.trim() !== '' || ready.length > 0);
  const inputId = `composer-${conversationId}`;
  return (
    <div className="composer">
      {replyTo && (
        <div className="reply-bar" data-testid="reply-bar">
          <div className="reply-bar-text">
            <span className="reply-bar-title">
              Replying to <strong>{replyTo.senderName}</strong>
            </span>
            <span className="quote-text">{replyTo.preview}</span>
          </div>
          <button type="button" className="icon-button" onClick={onCancelReply} aria-label="Cancel reply">
            <CloseIcon />
          </button>
        </div>
      )}
      {draftProduct && (
        <div className="product-draft" data-testid="product-draft">
          <span className="muted small">About</span>
          <ProductCard product={draftProduct} compact testId="product-draft-card" />
          <button type="button" className="icon-button" aria-label={`Do not attach ${draftProduct.name}`} onClick={() => setProductDraft(conversationId, null)}>
            <CloseIcon />
          </button>
        </div>
      )}
      {uploads.length > 0 && (
        <ul className="upload-list" aria-label="Attachments to send">
          {uploads.map((u) => (
            <li key={u.key} className={`upload${u.error ? ' upload-error' : ''}`}>
              <span>{u.filename}</span>
              <span className="muted">{u.error ?? (u.ref ? 'ready' : 'uploading…')}</span>
              <button type="button" className="icon-button" aria-label={`Remove ${u.filename}`} onClick={() => setUploads((list) => list.filter((x) => x.key !== u.key))}>
                <CloseIcon />
              </button>
            </li>
          ))}
        </ul>
      )}
      {error && (
        <p className="error-text" role="alert">
          {error}
        </p>
      )}
      {sendingVoice && (
        <p className="muted small composer-note" role="status">
          Sending voice message…
        </p>
      )}
      {recording ? (
        <VoiceRecorder
          onDone={(r) => void sendVoice(r)}
          onCancel={() => {
            setRecording(false);
            requestAnimationFrame(() => textRef.current?.focus());
          }}
          onError={(message) => {
            setRecording(false);
            setError(message);
          }}
        />
      ) : (
      <div className="composer-row">
        <input ref={fileRef} id={`${inputId}-file`} type="file" className="sr-only" tabIndex={-1} aria-label="Attach files" data-testid="file-input" multiple onChange={onFiles} accept="image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain" />
        <button type="button" className="icon-button composer-attach" onClick={() => fileRef.current?.click()} aria-label="Attach files" title="Attach files">
          <PaperclipIcon />
        </button>
        <label className="sr-only" htmlFor={inputId}>
          Message
        </label>
        <textarea
          id={inputId}
          ref={textRef}
          className="composer-input"
          value={text}
          rows={1}
          data-testid="composer-input"
          placeholder={blocked ?? (encrypted ? 'Write an encrypted message…' : 'Write a message…')}
          disabled={!!blocked}
          onChange={onChange}
          onKeyDown={onKeyDown}
          onBlur={stopTyping}
          maxLength={4000}
          aria-describedby={`${inputId}-hint`}
        />
        <span id={`${inputId}-hint`} className="sr-only">
          Enter sends, Shift+Enter adds a line.
        </span>
        {recorderAvailable && !encrypted && !canSend ? (
          <MicButton onClick={() => setRecording(true)} disabled={!client || sendingVoice || uploads.length > 0} />
        ) : (
          <button type="button" className="button composer-send" onClick={send} disabled={!canSend}>
            Send
          </button>
        )}
      </div>
      )}
    </div>
  );
});

