'use client';
/**
 * What an encrypted conversation says above its messages: that it is end-to-end encrypted and
 * what that costs, the safety-number button, a key-change warning with "Accept new keys", and
 * "waiting for <name>'s keys" while the other member has no device yet. When this browser's
 * device could not be published because the user already has the maximum number of devices,
 * it says so and lists them with "Remove"; after a removal the publish is tried again.
 */
import type { Conversation } from '@chat/protocol';
import { useState, useSyncExternalStore } from 'react';
import { firstName, memberName, otherMember } from '../cache';
import { describeChange } from './key-warnings';
import { OwnDevices, useDeviceStatus } from './own-devices';
import type { PanelE2E } from './panel-e2e';
import { SafetyNumberDialog } from './safety-number-dialog';
import type { ConversationKeys } from '@chat/protocol';

export function EncryptionBar({ e2e, conversation, me, keys, onAccepted }: { e2e: PanelE2E; conversation: Conversation; me: string; keys: ConversationKeys | undefined; onAccepted(): void }) {
  const warnings = useSyncExternalStore(
    (l) => e2e.warnings.subscribe(l),
    () => e2e.warnings.get(),
    () => e2e.warnings.get(),
  );
  const status = useDeviceStatus(e2e);
  const [showSafety, setShowSafety] = useState(false);
  const [thisDevice, setThisDevice] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const other = otherMember(conversation, me);
  const otherName = other ? memberName(conversation, other.userId) : 'them';
  const waiting = keys !== undefined && other !== undefined && !keys.devices.some((d) => d.userId === other.userId);
  const shown = [other?.userId, me].filter((u): u is string => !!u && warnings.has(u));

  function openSafety() {
    void e2e.session().then((s) => setThisDevice(s.device.deviceId));
    setShowSafety(true);
  }

  async function accept() {
    setError(null);
    try {
      for (const userId of shown) await e2e.accept(userId);
      onAccepted();
    } catch (e) {
      setError(e instanceof Error ? e.message : 'Could not accept the new keys.');
    }
  }

  return (
    <div className="encryption-bar" data-testid="encryption-bar">
      <p className="small muted encryption-note">
        End-to-end encrypted: only you and {firstName(otherName)} can read it. Search works on this device only; notifications show the sender only; a new device cannot read older messages.{' '}
        <button type="button" className="link-button" onClick={openSafety} disabled={!keys}>
          Safety number
        </button>
      </p>
      {shown.length > 0 && (
        <div className="key-warning" role="alert" data-testid="key-warning">
          {shown.map((userId) => (
            <p key={userId}>{describeChange(memberName(conversation, userId), warnings.get(userId)!, userId === me)}</p>
          ))}
          <button type="button" className="button button-small" onClick={() => void accept()}>
            Accept new keys
          </button>{' '}
          <button type="button" className="button button-small button-ghost" onClick={openSafety} disabled={!keys}>
            Compare safety numbers
          </button>
          {error && <p className="error-text">{error}</p>}
        </div>
      )}
      {status.state === 'full' && (
        <div className="key-warning" role="alert" data-testid="e2e-devices-full">
          <p>
            You have {status.maxDevices} devices with encryption keys; remove one to use encrypted chats here.
          </p>
          <OwnDevices e2e={e2e} me={me} onRemoved={onAccepted} />
        </div>
      )}
      {waiting && (
        <p className="key-waiting" role="status" data-testid="e2e-waiting">
          Waiting for {otherName}’s keys — they need to open the chat once. Sending is off until then.
        </p>
      )}
      {showSafety && keys && other && (
        <SafetyNumberDialog e2e={e2e} me={me} other={other.userId} otherName={otherName} devices={keys.devices} thisDevice={thisDevice} onDevicesChanged={onAccepted} onClose={() => setShowSafety(false)} />
      )}
    </div>
  );
}
