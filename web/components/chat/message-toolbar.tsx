'use client';
/**
 * One toolbar per message (WAI-ARIA toolbar pattern): a single tab stop, arrow keys move
 * between its buttons (roving tabindex), and its menus (reactions, more) open with Enter,
 * Space or ArrowDown. Escape closes an open menu and returns focus to its button; with no
 * menu open it is left to the panel (which closes).
 */
import { useEffect, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';

export interface ToolbarItem {
  key: string;
  label: string;
  icon: ReactNode;
  onSelect?(): void;
  /** A menu that opens below/above the toolbar; items are rendered by the caller. */
  menu?: (close: (refocus?: boolean) => void) => ReactNode;
  /** Accessible name of the menu. */
  menuLabel?: string;
}

function focusables(root: HTMLElement | null, selector: string): HTMLElement[] {
  return root ? [...root.querySelectorAll<HTMLElement>(selector)].filter((el) => !el.hasAttribute('disabled')) : [];
}

/** Arrow-key movement inside a container: returns true when the key was handled. */
export function moveFocus(event: KeyboardEvent<HTMLElement>, items: HTMLElement[], orientation: 'horizontal' | 'vertical' | 'both'): boolean {
  const index = items.indexOf(document.activeElement as HTMLElement);
  const next = orientation === 'vertical' ? 'ArrowDown' : 'ArrowRight';
  const prev = orientation === 'vertical' ? 'ArrowUp' : 'ArrowLeft';
  let target = -1;
  if (event.key === next || (orientation === 'both' && event.key === 'ArrowDown')) target = (index + 1) % items.length;
  else if (event.key === prev || (orientation === 'both' && event.key === 'ArrowUp')) target = (index - 1 + items.length) % items.length;
  else if (event.key === 'Home') target = 0;
  else if (event.key === 'End') target = items.length - 1;
  if (target < 0 || items.length === 0) return false;
  event.preventDefault();
  items[target]!.focus();
  return true;
}

export function MessageToolbar({ label, items, align, onOpenChange, hidden }: { label: string; items: ToolbarItem[]; align: 'start' | 'end'; onOpenChange?(open: boolean): void; hidden?: boolean }) {
  const [current, setCurrent] = useState(0);
  const [openMenu, setOpenMenu] = useState<string | null>(null);
  const [below, setBelow] = useState(false);
  const root = useRef<HTMLDivElement>(null);
  const menuRef = useRef<HTMLDivElement>(null);
  const safeCurrent = Math.min(current, items.length - 1);

  useEffect(() => onOpenChange?.(openMenu !== null), [openMenu, onOpenChange]);

  // A menu takes focus when it opens.
  useEffect(() => {
    if (openMenu) focusables(menuRef.current, '[role^="menuitem"], button')[0]?.focus();
  }, [openMenu]);

  function buttonOf(key: string): HTMLElement | null {
    return root.current?.querySelector<HTMLElement>(`[data-toolbar-key="${key}"]`) ?? null;
  }

  function close(refocus = true) {
    const key = openMenu;
    setOpenMenu(null);
    if (refocus && key) buttonOf(key)?.focus();
  }

  function open(item: ToolbarItem) {
    // Above the toolbar, unless the scrolling history has no room there.
    const rect = root.current?.getBoundingClientRect();
    const history = root.current?.closest('[data-testid="history"]')?.getBoundingClientRect();
    setBelow(!!rect && !!history && rect.top - history.top < 150);
    setOpenMenu(item.key);
  }

  function onToolbarKey(event: KeyboardEvent<HTMLDivElement>) {
    if (event.target instanceof HTMLElement && event.target.closest('[role="menu"]')) return;
    moveFocus(event, focusables(root.current, ':scope > button'), 'horizontal');
  }

  function onMenuKey(event: KeyboardEvent<HTMLDivElement>) {
    if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      close();
    } else if (event.key === 'Tab') {
      setOpenMenu(null);
    } else {
      moveFocus(event, focusables(menuRef.current, '[role^="menuitem"], button'), 'both');
    }
  }

  const active = items.find((i) => i.key === openMenu);
  return (
    <div
      ref={root}
      className={`message-actions message-actions-${align}${openMenu ? ' message-actions-open' : ''}`}
      role="toolbar"
      aria-label={label}
      hidden={hidden}
      onKeyDown={onToolbarKey}
      onBlur={(event) => {
        // Focus left the toolbar and its menu altogether: close the menu.
        if (openMenu && !root.current?.contains(event.relatedTarget as Node | null)) setOpenMenu(null);
      }}
    >
      {items.map((item, i) => (
        <button
          key={item.key}
          type="button"
          className="icon-button"
          data-toolbar-key={item.key}
          tabIndex={i === safeCurrent ? 0 : -1}
          aria-label={item.label}
          title={item.label}
          aria-haspopup={item.menu ? 'menu' : undefined}
          aria-expanded={item.menu ? openMenu === item.key : undefined}
          onFocus={() => setCurrent(i)}
          onClick={() => {
            if (item.menu) {
              if (openMenu === item.key) close();
              else open(item);
            } else {
              item.onSelect?.();
            }
          }}
          onKeyDown={(event) => {
            if (item.menu && event.key === 'ArrowDown') {
              event.preventDefault();
              open(item);
            }
          }}
        >
          {item.icon}
        </button>
      ))}
      {active?.menu && (
        <div ref={menuRef} className={`message-menu${below ? ' message-menu-below' : ''}`} role="menu" aria-label={active.menuLabel ?? active.label} onKeyDown={onMenuKey}>
          {active.menu(close)}
        </div>
      )}
    </div>
  );
}
