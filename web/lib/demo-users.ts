/**
 * The storefront's demo logins. Ids and names match the users that db/src/seed.ts
 * (`DEMO_USERS`) inserts into the chat database; every password is `demo`.
 * `support` is the storefront's staff account: its session token carries the
 * `chatRole: 'admin'` claim, which the chat service reads as a system role.
 */
export interface DemoUser {
  id: string;
  name: string;
  chatRole?: 'admin';
}

export const DEMO_USERS: readonly DemoUser[] = [
  { id: 'alice', name: 'Alice Shopper' },
  { id: 'bob', name: 'Bob Buyer' },
  { id: 'carol', name: 'Carol Seller' },
  { id: 'support', name: 'Storefront Support', chatRole: 'admin' },
];

export const DEMO_PASSWORD = 'demo';
