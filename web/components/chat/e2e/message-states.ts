/** What an encrypted message looks like in the panel once this device tried to open it. */
import type { AttachmentRef, Message, OpenFailure } from '@chat/client';

/** ok, or why the message is not shown as valid text (docs/e2e.md, "The panel"). */
export type E2EState = 'ok' | 'no-key' | 'unverified' | 'tampered' | 'replay' | 'misaddressed';

/** The wording of each failure, shown on the message instead of its text. */
export const E2E_PROBLEM: Record<Exclude<E2EState, 'ok'>, string> = {
  'no-key': 'Can’t decrypt this message on this device',
  unverified: 'This message could not be verified',
  tampered: 'This message was altered after it was sent and cannot be shown',
  replay: 'Replayed message: it was already delivered earlier',
  misaddressed: 'This message was moved from another conversation and cannot be shown',
};

export function stateFor(reason: OpenFailure): Exclude<E2EState, 'ok'> {
  switch (reason) {
    case 'no-key-for-this-device':
      return 'no-key';
    case 'replay':
      return 'replay';
    case 'misaddressed':
      return 'misaddressed';
    case 'tampered':
      return 'tampered';
    default:
      // unknown-device, bad-signature, not-an-envelope (a plain body where a sealed one belongs).
      return 'unverified';
  }
}

/** An attachment of an encrypted message: the real name and type, and the key of its ciphertext blob. */
export type SealedAttachment = AttachmentRef & { key: string; nonce: string };

export function isSealed(attachment: AttachmentRef): attachment is SealedAttachment {
  return typeof (attachment as SealedAttachment).key === 'string' && typeof (attachment as SealedAttachment).nonce === 'string';
}

/** A message as the panel's caches hold it: in encrypted conversations, the plaintext and its state. */
export type PanelMessage = Message & { e2e?: E2EState };

export function e2eStateOf(message: Message): E2EState | null {
  return (message as PanelMessage).e2e ?? null;
}
