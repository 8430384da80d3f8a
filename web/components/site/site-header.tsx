import Link from 'next/link';
import type { SessionUser } from '@/lib/session';
import { Avatar } from '../chat/avatar';
import { SignOutButton } from './sign-out-button';

export function SiteHeader({ user }: { user: SessionUser | null }) {
  return (
    <header className="site-header">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <Link href="/" className="brand">
        <span aria-hidden="true">◆</span> Makers&apos; Market
      </Link>
      <nav aria-label="Main" className="site-nav">
        <Link href="/">Products</Link>
        <Link href="/messages">Messages</Link>
      </nav>
      <div className="site-user">
        {user ? (
          <>
            <Avatar userId={user.id} image={user.image} size={28} />
            <span data-testid="signed-in-as">{user.name ?? user.id}</span>
            <SignOutButton />
          </>
        ) : (
          <Link href="/login" className="button button-small">
            Sign in
          </Link>
        )}
      </div>
    </header>
  );
}
