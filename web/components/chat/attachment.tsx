'use client';
import type { AttachmentRef } from '@chat/protocol';
import { useCallback, useEffect, useState } from 'react';
import { useChat } from './chat-provider';
import { PaperclipIcon } from './icons';
import { VoicePlayer } from './voice';
import { decryptAttachment } from '@chat/client';
import { isSealed } from './e2e/message-states';

/** Raster types the service serves inline; everything else is offered as a download. */
const PREVIEWABLE = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

/** Attachment id → its bytes. Downloads need the bearer token, so <img src> cannot point at the service. */
const blobs = new Map<string, Promise<Blob>>();
const blobUrls = new Map<string, Promise<string>>();

/** The bytes, typed as the attachment says (the service sends non-images as application/octet-stream). */
function loadBlob(url: string, id: string, contentType: string, getToken: () => Promise<string>, sealed?: { key: string; nonce: string }): Promise<Blob> {
  let pending = blobs.get(id);
  if (!pending) {
    pending = (async () => {
      const token = await getToken();
      const response = await fetch(url, { headers: { authorization: `Bearer ${token}` }, credentials: 'omit' });
      if (!response.ok) throw new Error(`Download failed (${response.status}).`);
      const bytes = await response.arrayBuffer();
      if (!sealed) return new Blob([bytes], { type: contentType });
      // An encrypted conversation's file: the service holds only ciphertext; it opens here.
      const plain = await decryptAttachment(bytes, sealed.key, sealed.nonce);
      if (!plain) throw new Error('This file was altered and cannot be opened.');
      return new Blob([plain as BlobPart], { type: contentType });
    })();
    pending.catch(() => blobs.delete(id)); // let a later render try again
    blobs.set(id, pending);
  }
  return pending;
}

function loadBlobUrl(url: string, id: string, contentType: string, getToken: () => Promise<string>, sealed?: { key: string; nonce: string }): Promise<string> {
  let pending = blobUrls.get(id);
  if (!pending) {
    pending = loadBlob(url, id, contentType, getToken, sealed).then((blob) => URL.createObjectURL(blob));
    pending.catch(() => blobUrls.delete(id));
    blobUrls.set(id, pending);
  }
  return pending;
}

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function Attachment({ attachment }: { attachment: AttachmentRef }) {
  const { client, getToken } = useChat();
  const [src, setSrc] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const image = PREVIEWABLE.has(attachment.contentType);
  const sealed = isSealed(attachment) ? { key: attachment.key, nonce: attachment.nonce } : undefined;
  const audio = attachment.contentType.startsWith('audio/');
  const loadAudio = useCallback(() => {
    if (!client) return Promise.reject(new Error('Not connected.'));
    return loadBlob(client.http.attachmentUrl(attachment.id), attachment.id, attachment.contentType, getToken, sealed);
  }, [client, attachment.id, attachment.contentType, getToken]);

  useEffect(() => {
    if (!image || !client) return;
    let cancelled = false;
    loadBlobUrl(client.http.attachmentUrl(attachment.id), attachment.id, attachment.contentType, getToken, sealed).then(
      (url) => !cancelled && setSrc(url),
      (e: unknown) => !cancelled && setError(e instanceof Error ? e.message : 'Download failed.'),
    );
    return () => {
      cancelled = true;
    };
  }, [image, client, attachment.id, getToken]);

  async function download() {
    if (!client) return;
    try {
      const url = await loadBlobUrl(client.http.attachmentUrl(attachment.id), attachment.id, attachment.contentType, getToken, sealed);
      const a = document.createElement('a');
      a.href = url;
      a.download = attachment.filename;
      a.click();
    } catch (e) {
      setError(e instanceof Error ? e.message : 'Download failed.');
    }
  }

  if (audio) return <VoicePlayer load={loadAudio} label="voice message" />;
  if (image) {
    return (
      <figure className="attachment attachment-image">
        {src ? (
          // A plain <img>: a blob: URL of an authenticated download.
          <img src={src} alt={attachment.filename} data-testid="attachment-preview" />
        ) : (
          <div className="attachment-placeholder" aria-label={`Loading ${attachment.filename}`}>
            {error ?? 'Loading image…'}
          </div>
        )}
        <figcaption>{attachment.filename}</figcaption>
      </figure>
    );
  }
  return (
    <div className="attachment attachment-file">
      <PaperclipIcon />
      <button type="button" className="link-button" onClick={download} aria-label={`Download ${attachment.filename} (${formatSize(attachment.size)})`}>
        {attachment.filename}
      </button>
      <span className="muted">{formatSize(attachment.size)}</span>
      {error && <span className="error-text">{error}</span>}
    </div>
  );
}
