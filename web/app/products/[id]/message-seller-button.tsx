'use client';
import { usePathname, useRouter } from 'next/navigation';
import { useState } from 'react';
import { useChat } from '@/components/chat/chat-provider';
import { LockIcon } from '@/components/chat/icons';

export function MessageSellerButton({ sellerId, sellerName, productId }: { sellerId: string; sellerName: string; productId: string }) {
  const { me, openDirect } = useChat();
  const router = useRouter();
  const pathname = usePathname();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function onClick(encrypted = false) {
    if (!me) {
      router.push(`/login?callbackUrl=${encodeURIComponent(pathname)}`);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      // The chat starts about this product: the first message carries it as a card.
      await openDirect(sellerId, encrypted ? { productId, encrypted } : { productId });
    } catch (e) {
      setError(e instanceof Error ? e.message : 'Could not open the chat.');
    } finally {
      setBusy(false);
    }
  }

  if (me?.id === sellerId) return <p className="muted">This is your listing.</p>;
  return (
    <div>
      <button type="button" className="button button-large" onClick={() => void onClick()} disabled={busy}>
        {busy ? 'Opening chat…' : 'Message the seller'}
      </button>{' '}
      {/* A separate, end-to-end encrypted conversation with the seller (docs/e2e.md). */}
      <button type="button" className="button button-large button-ghost" onClick={() => void onClick(true)} disabled={busy}>
        <LockIcon size={16} /> Start encrypted chat
      </button>
      <p className="muted small">{sellerName} usually replies within a day.</p>
      {error && (
        <p className="error-text" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
