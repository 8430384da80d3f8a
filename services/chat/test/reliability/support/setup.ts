/** Users, tokens and conversations over the real HTTP API of any instance (in-process or child). */
import { mintV4 } from '@chat/test-support/tokens';

export interface Http {
  http: string;
}

export async function call<T = any>(
  instance: Http,
  token: string | null,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const response = await fetch(`${instance.http}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // left as text
  }
  return { status: response.status, body: parsed as T };
}

/** Mints tokens for `names` and makes sure each user exists (GET /v1/me). */
export async function users(instance: Http, names: string[]): Promise<Record<string, string>> {
  const tokens: Record<string, string> = {};
  for (const name of names) tokens[name] = await mintV4({ sub: name, name });
  for (let i = 0; i < names.length; i += 50) {
    await Promise.all(
      names.slice(i, i + 50).map(async (name) => {
        const r = await call(instance, tokens[name]!, 'GET', '/v1/me');
        if (r.status !== 200) throw new Error(`GET /v1/me for ${name}: ${r.status} ${JSON.stringify(r.body)}`);
      }),
    );
  }
  return tokens;
}

export async function group(instance: Http, ownerToken: string, title: string, memberIds: string[]): Promise<string> {
  const r = await call(instance, ownerToken, 'POST', '/v1/conversations', { title, memberIds });
  if (r.status !== 201) throw new Error(`create group: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.id as string;
}
