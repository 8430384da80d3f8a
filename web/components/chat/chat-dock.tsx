'use client';
import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { useEffect, useRef } from 'react';
import { useChat, useConversations } from './chat-provider';
import { ChatIcon, CloseIcon } from './icons';
import { Messenger } from './messenger';

/** The floating launcher and panel on every page (except the full-page messages view). */
export function ChatDock() {
  const { me, open, setOpen } = useChat();
  const pathname = usePathname();
  const { data } = useConversations();
  const launcher = useRef<HTMLButtonElement>(null);
  const panel = useRef<HTMLDivElement>(null);
  const wasOpen = useRef(open);
  const unread = data?.totalUnread ?? 0;
  const hidden = pathname === '/messages';

  // Escape closes the panel (inner controls that use Escape themselves prevent this).
  useEffect(() => {
    if (!open) return;
    function onKey(event: KeyboardEvent) {
      if (event.key !== 'Escape' || event.defaultPrevented) return;
      setOpen(false);
    }
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [open, setOpen]);

  // Focus moves into the panel when it opens and back to the launcher when it closes.
  useEffect(() => {
    if (open && !wasOpen.current) {
      // The composer when a conversation is open, else the search box.
      const root = panel.current;
      const target = root?.querySelector<HTMLElement>('textarea') ?? root?.querySelector<HTMLElement>('input[type="search"]') ?? root?.querySelector<HTMLElement>('a[href], button');
      target?.focus();
    } else if (!open && wasOpen.current) {
      launcher.current?.focus();
    }
    wasOpen.current = open;
  }, [open]);

  if (hidden) return null;
  const label = unread > 0 ? `Open chat, ${unread} unread ${unread === 1 ? 'message' : 'messages'}` : 'Open chat';
  return (
    <div className="dock">
      {open && (
        <div ref={panel} className="panel" role="dialog" aria-modal="false" aria-labelledby="chat-panel-title" id="chat-panel" data-testid="chat-panel">
          <div className="panel-header">
            <h2 id="chat-panel-title">Messages</h2>
            <div className="panel-header-actions">
              {me && (
                <Link href="/messages" className="link-button" onClick={() => setOpen(false)}>
                  Full view
                </Link>
              )}
              <button type="button" className="icon-button" onClick={() => setOpen(false)} aria-label="Close chat">
                <CloseIcon />
              </button>
            </div>
          </div>
          {me ? (
            <Messenger variant="panel" />
          ) : (
            <div className="panel-signed-out">
              <p>Sign in to chat with sellers and support.</p>
              <Link className="button" href={`/login?callbackUrl=${encodeURIComponent(pathname || '/')}`}>
                Sign in
              </Link>
            </div>
          )}
        </div>
      )}
      <button
        ref={launcher}
        type="button"
        className="launcher"
        onClick={() => setOpen(!open)}
        aria-expanded={open}
        aria-controls="chat-panel"
        aria-label={open ? 'Hide chat' : label}
        data-testid="chat-launcher"
      >
        <span className="launcher-icon">
          <ChatIcon size={28} />
        </span>
        {unread > 0 && (
          <span className="badge launcher-badge" data-testid="launcher-badge" aria-hidden="true">
            {unread > 99 ? '99+' : unread}
          </span>
        )}
      </button>
    </div>
  );
}
