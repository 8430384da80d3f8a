import 'next-auth';
import 'next-auth/jwt';

declare module 'next-auth' {
  interface Session {
    user: { id: string; name: string | null; image: string | null; chatRole: 'admin' | null };
  }
}

declare module 'next-auth/jwt' {
  interface JWT {
    chatRole?: 'admin';
  }
}
