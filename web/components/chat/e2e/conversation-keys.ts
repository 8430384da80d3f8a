'use client';
/** The devices an encrypted conversation is sealed to, compared with the pins whenever they are read. */
import type { ConversationKeys } from '@chat/protocol';
import useSWR from 'swr';
import type { PanelE2E } from './panel-e2e';

export function useConversationKeys(e2e: PanelE2E | null, conversationId: string, encrypted: boolean) {
  return useSWR<ConversationKeys>(e2e && encrypted ? ['e2e-keys', conversationId] : null, async () => {
    const session = await e2e!.session();
    const keys = await session.directory.conversationDevices(conversationId);
    for (const userId of new Set(keys.devices.map((d) => d.userId))) e2e!.warnings.add(userId, await session.trust.compare(userId, keys.devices));
    return keys;
  }, { revalidateOnFocus: false });
}
