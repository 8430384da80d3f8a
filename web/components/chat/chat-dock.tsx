'use client';
import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { useEffect, useRef, useState, type KeyboardEvent } from 'react';
import { useChat, useConversations } from './chat-provider';
import { ChatIcon, CloseIcon } from './icons';
import { Messenger } from './messenger';
import { PushBell } from './push-bell';

/** True on the full-page messages views, which replace the floating panel. */
export function isMessagesPath(pathname: string | null): boolean {
  return pathname === '/messages' || (pathname?.startsWith('/messages/') ?? false);
}

/**
 * Keeps `--chat-viewport-height` and `--chat-viewport-top` on the panel equal to the visual
 * viewport, so a full-screen sheet shrinks above an on-screen keyboard even where the browser
 * does not resize the layout viewport for it (iOS Safari; Chromium honours the viewport's
 * `interactive-widget=resizes-content` and the values simply match `100dvh`).
 */
function useVisualViewport(panel: React.RefObject<HTMLDivElement | null>, active: boolean) {
  useEffect(() => {
    const viewport = typeof window !== 'undefined' ? window.visualViewport : null;
    const el = panel.current;
    if (!active || !viewport || !el) return;
    const update = () => {
      el.style.setProperty('--chat-viewport-height', `${Math.round(viewport.height)}px`);
      el.style.setProperty('--chat-viewport-top', `${Math.round(viewport.offsetTop)}px`);
    };
    update();
    viewport.addEventListener('resize', update);
    viewport.addEventListener('scroll', update);
    return () => {
      viewport.removeEventListener('resize', update);
      viewport.removeEventListener('scroll', update);
    };
  }, [panel, active]);
}

/** True while `active` and the viewport is phone-sized (the panel is a full-screen sheet). */
function useNarrow(active: boolean): boolean {
  const [narrow, setNarrow] = useState(false);
  useEffect(() => {
    if (!active) return setNarrow(false);
    const query = window.matchMedia('(max-width: 640px)');
    const update = () => setNarrow(query.matches);
    update();
    query.addEventListener('change', update);
    return () => query.removeEventListener('change', update);
  }, [active]);
  return narrow;
}

/** The floating launcher and panel on every page (except the full-page messages view). */
export function ChatDock() {
  const { me, ready, open, openRestored, setOpen } = useChat();
  const pathname = usePathname();
  const { data } = useConversations();
  const launcher = useRef<HTMLButtonElement>(null);
  const panel = useRef<HTMLDivElement>(null);
  const wasOpen = useRef(open);
  const unread = data?.totalUnread ?? 0;
  const hidden = isMessagesPath(pathname);
  useVisualViewport(panel, open && !hidden);
  const sheet = useNarrow(open && !hidden);

  // On a phone the open panel is a sheet over the whole page: the page behind it is inert
  // (no focus, no screen reader), so Tab stays in the sheet and the dialog is modal.
  useEffect(() => {
    if (!sheet) return;
    const behind = [...document.querySelectorAll<HTMLElement>('body > .site-header, body > main')];
    for (const el of behind) el.inert = true;
    return () => {
      for (const el of behind) el.inert = false;
    };
  }, [sheet]);

  // Focus moves into the panel when the user opens it and back to the launcher when it closes.
  useEffect(() => {
    if (open && !wasOpen.current && !openRestored) {
      // The composer when a conversation is open, else the search box.
      const root = panel.current;
      const target = root?.querySelector<HTMLElement>('textarea') ?? root?.querySelector<HTMLElement>('input[type="search"]') ?? root?.querySelector<HTMLElement>('a[href], button');
      target?.focus();
    } else if (!open && wasOpen.current) {
      const active = document.activeElement;
      // Only when focus was in the panel (now gone) or nowhere: never steal it from the page.
      if (!active || active === document.body || !document.contains(active) || active === launcher.current) launcher.current?.focus();
    }
    wasOpen.current = open;
  }, [open, openRestored]);

  // Escape closes the panel from anywhere inside it, once inner controls (menus, edits,
  // a reply, a search) have had their turn: those handle it and prevent the default.
  function onKeyDown(event: KeyboardEvent<HTMLElement>) {
    if (event.key !== 'Escape' || event.defaultPrevented || !open) return;
    event.preventDefault();
    launcher.current?.focus();
    setOpen(false);
  }

  if (hidden) return null;
  // The launcher's name holds the badge's visible text (WCAG 2.5.3); the badge shows only on the
  // closed launcher: once the panel is open, its list shows the counts.
  const badge = unread > 99 ? '99+' : String(unread);
  const label = unread > 0 ? `Open chat, ${badge} unread ${unread === 1 ? 'message' : 'messages'}` : 'Open chat';
  return (
    <div className={`dock${open ? ' dock-open' : ''}`}>
      {open && (
        // tabIndex -1: a click on a bare part of the panel keeps focus inside it, so Escape still reaches it.
        <div ref={panel} className="panel" role="dialog" aria-modal={sheet} aria-labelledby="chat-panel-title" id="chat-panel" data-testid="chat-panel" tabIndex={-1} onKeyDown={onKeyDown}>
          <div className="panel-header">
            <h2 id="chat-panel-title">Messages</h2>
            <div className="panel-header-actions">
              {me && (
                <Link href="/messages" className="link-button" onClick={() => setOpen(false)}>
                  Full view
                </Link>
              )}
              {me && <PushBell />}
              <button type="button" className="icon-button panel-close" onClick={() => setOpen(false)} aria-label="Close chat" data-testid="panel-close">
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
        onKeyDown={onKeyDown}
        aria-expanded={open}
        aria-controls="chat-panel"
        aria-label={open ? 'Close chat' : label}
        data-testid="chat-launcher"
        data-ready={ready}
      >
        <span className="launcher-icon">{open ? <CloseIcon size={26} /> : <ChatIcon size={28} />}</span>
        {unread > 0 && !open && (
          <span className="badge launcher-badge" data-testid="launcher-badge" aria-hidden="true">
            {badge}
          </span>
        )}
      </button>
    </div>
  );
}
