import { getServerSession } from 'next-auth';
import { authOptions } from './auth';

export interface SessionUser {
  id: string;
  name: string | null;
  image: string | null;
}

/** The signed-in user for server components, or null. */
export async function currentUser(): Promise<SessionUser | null> {
  const session = await getServerSession(authOptions);
  if (!session?.user?.id) return null;
  return { id: session.user.id, name: session.user.name ?? null, image: session.user.image ?? null };
}
