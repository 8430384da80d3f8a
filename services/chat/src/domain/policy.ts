/** Who may do what, by conversation role. One table, used by HTTP and WebSocket alike. */
import type { Role } from '@chat/protocol';
import { AppError } from '../errors.ts';

export const ROLE_RANK: Record<Role, number> = { member: 1, admin: 2, owner: 3 };

export type Action =
  | 'read'
  | 'send'
  | 'react'
  | 'moderate' // delete others' messages
  | 'manageMembers' // add and remove members
  | 'update' // title, public flag
  | 'changeRoles'
  | 'deleteConversation';

const MINIMUM: Record<Action, Role> = {
  read: 'member',
  send: 'member',
  react: 'member',
  moderate: 'admin',
  manageMembers: 'admin',
  update: 'admin',
  changeRoles: 'owner',
  deleteConversation: 'owner',
};

export function allowed(role: Role, action: Action): boolean {
  return ROLE_RANK[role] >= ROLE_RANK[MINIMUM[action]];
}

export function require(role: Role, action: Action): void {
  if (!allowed(role, action)) throw new AppError('FORBIDDEN', `Your role (${role}) may not ${describe[action]}.`);
}

const describe: Record<Action, string> = {
  read: 'read this conversation',
  send: 'send here',
  react: 'react here',
  moderate: "delete other people's messages",
  manageMembers: 'add or remove members',
  update: 'change this conversation',
  changeRoles: 'change roles',
  deleteConversation: 'delete this conversation',
};
