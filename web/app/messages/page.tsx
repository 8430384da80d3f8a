import type { Metadata } from 'next';
import { redirect } from 'next/navigation';
import { Messenger } from '@/components/chat/messenger';
import { currentUser } from '@/lib/session';

export const metadata: Metadata = { title: 'Messages' };

export default async function MessagesPage() {
  const user = await currentUser();
  if (!user) redirect('/login?callbackUrl=/messages');
  return (
    <div className="messages-page">
      <h1 className="sr-only">Messages</h1>
      <Messenger variant="page" />
    </div>
  );
}
