import type { Metadata, Viewport } from 'next';
import type { ReactNode } from 'react';
import { ChatDock } from '@/components/chat/chat-dock';
import { ChatProvider } from '@/components/chat/chat-provider';
import { SiteHeader } from '@/components/site/site-header';
import { currentUser } from '@/lib/session';
import './globals.css';

export const metadata: Metadata = {
  title: { default: "Makers' Market", template: "%s · Makers' Market" },
  description: 'Handmade goods, with a chat to their makers.',
};

// viewport-fit=cover: the phone sheet pads itself with the safe-area insets; resizes-content:
// an on-screen keyboard shrinks the layout viewport, so the sheet's message box stays above it.
export const viewport: Viewport = { width: 'device-width', initialScale: 1, viewportFit: 'cover', interactiveWidget: 'resizes-content' };

export default async function RootLayout({ children }: { children: ReactNode }) {
  const user = await currentUser();
  return (
    <html lang="en">
      <body>
        <ChatProvider me={user}>
          <SiteHeader user={user} />
          <main id="main" className="main" tabIndex={-1}>
            {children}
          </main>
          <ChatDock />
        </ChatProvider>
      </body>
    </html>
  );
}
