import type { Metadata } from 'next';
import { DEMO_USERS } from '@/lib/demo-users';
import { LoginForm } from './login-form';

export const metadata: Metadata = { title: 'Sign in' };

/** Only same-site paths: never an open redirect. */
function safeCallback(value: string | string[] | undefined): string {
  const path = Array.isArray(value) ? value[0] : value;
  return path && path.startsWith('/') && !path.startsWith('//') && !path.startsWith('/\\') ? path : '/';
}

export default async function LoginPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const params = await searchParams;
  return (
    <section className="login">
      <h1>Sign in</h1>
      <p className="muted">
        Demo accounts: {DEMO_USERS.map((u) => u.id).join(', ')} — the password is <code>demo</code>.
      </p>
      <LoginForm callbackUrl={safeCallback(params.callbackUrl)} />
    </section>
  );
}
