import type { Sql } from 'postgres';

export interface UserUpsert {
  id: string;
  name: string | null;
  image: string | null;
}

/** Mirrors token claims into `users`; one statement for a whole batch. */
export async function upsertUsers(sql: Sql, users: UserUpsert[]): Promise<void> {
  const unique = [...new Map(users.map((u) => [u.id, u])).values()];
  await sql`
    insert into users (id, name, image)
    select * from unnest(${unique.map((u) => u.id)}::text[], ${unique.map((u) => u.name)}::text[], ${unique.map((u) => u.image)}::text[])
    on conflict (id) do update set name = excluded.name, image = excluded.image
    where users.name is distinct from excluded.name or users.image is distinct from excluded.image`;
}
