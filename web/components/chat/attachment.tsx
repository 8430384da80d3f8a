'use client';
import type { AttachmentRef } from '@chat/protocol';
import { useEffect, useState } from 'react';
import { useChat } from './chat-provider';
import { PaperclipIcon } from './icons';

/** Raster types the service serves inline; everything else is offered as a download. */
const PREVIEWABLE = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

/** Attachment id → object URL of its bytes. Downloads need the bearer token, so <img src> cannot point at the service. */
const blobUrls = new Map<string, Promise<string>>();

function loadBlobUrl(url: string, id: string, getToken: () => Promise<string>): Promise<string> {
  let pending = blobUrls.get(id);
  if (!pending) {
    pending = (async () => {
      const token = await getToken();
      const response = await fetch(url, { headers: { authorization: `Bearer ${token}` }, credentials: 'omit' });
      if (!response.ok) throw new Error(`Download failed (${response.status}).`);
      return URL.createObjectURL(await response.blob());
    })();
    pending.catch(() => blobUrls.delete(id)); // let a later render try again
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

  useEffect(() => {
    if (!image || !client) return;
    let cancelled = false;
    loadBlobUrl(client.http.attachmentUrl(attachment.id), attachment.id, getToken).then(
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
      const url = await loadBlobUrl(client.http.attachmentUrl(attachment.id), attachment.id, getToken);
      const a = document.createElement('a');
      a.href = url;
      a.download = attachment.filename;
      a.click();
    } catch (e) {
      setError(e instanceof Error ? e.message : 'Download failed.');
    }
  }

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
