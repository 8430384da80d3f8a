import type { Metadata } from 'next';
import { notFound, redirect } from 'next/navigation';
import { Messenger } from '@/components/chat/messenger';
import { currentUser } from '@/lib/session';

export const metadata: Metadata = { title: 'Messages' };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `/messages` (the list) and `/messages/<conversationId>` (one conversation): a URL that survives a reload. */
export default async function MessagesPage({ params }: { params: Promise<{ conversation?: string[] }> }) {
  const { conversation = [] } = await params;
  const [id, ...rest] = conversation;
  if (rest.length > 0 || (id !== undefined && !UUID.test(id))) notFound();
  const user = await currentUser();
  if (!user) redirect(`/login?callbackUrl=${encodeURIComponent(id ? `/messages/${id}` : '/messages')}`);
  return (
    <div className="messages-page">
      <h1 className="sr-only">Messages</h1>
      <Messenger variant="page" routeId={id?.toLowerCase() ?? null} />
    </div>
  );
}
