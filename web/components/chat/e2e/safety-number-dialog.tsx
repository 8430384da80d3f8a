'use client';
/**
 * The safety number of an encrypted conversation: 60 digits over both users' device identity
 * keys (safetyNumber), the same on both sides exactly when both see the same devices. Compare it
 * in person or over another channel; a native modal <dialog> keeps focus inside while open.
 * Below, the user's own devices with "Remove" on each other one (OwnDevices).
 */
import { safetyNumber, type DeviceBundle } from '@chat/client';
import { useEffect, useRef, useState } from 'react';
import { OwnDevices } from './own-devices';
import type { PanelE2E } from './panel-e2e';

export function SafetyNumberDialog({ e2e, me, other, otherName, devices, thisDevice, onDevicesChanged, onClose }: { e2e: PanelE2E; me: string; other: string; otherName: string; devices: readonly DeviceBundle[]; thisDevice: string | null; onDevicesChanged(): void; onClose(): void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [digits, setDigits] = useState<string | null>(null);

  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);
  useEffect(() => {
    let cancelled = false;
    void safetyNumber(devices.filter((d) => d.userId === me), devices.filter((d) => d.userId === other)).then((n) => !cancelled && setDigits(n));
    return () => {
      cancelled = true;
    };
  }, [devices, me, other]);

  const groups = digits?.split(' ') ?? [];
  const label = (d: DeviceBundle) => `${d.userId === me ? 'You' : otherName}: device ${d.deviceId.slice(0, 8)}${d.deviceId === thisDevice ? ' (this browser)' : ''}`;
  return (
    <dialog
      ref={ref}
      className="safety-dialog"
      aria-labelledby="safety-title"
      data-testid="safety-dialog"
      onCancel={(event) => {
        event.preventDefault();
        onClose();
      }}
      onKeyDown={(event) => {
        // The panel closes on Escape; here Escape only closes the dialog.
        if (event.key === 'Escape') {
          event.preventDefault();
          event.stopPropagation();
          onClose();
        }
      }}
    >
      <h3 id="safety-title">Safety number with {otherName}</h3>
      <p className="small">Compare these digits with {otherName}’s, in person or over another channel. If they match, nobody can read this conversation but the two of you.</p>
      <p className="safety-number" data-testid="safety-number" data-digits={digits ?? ''}>
        {groups.map((g, i) => (
          <span key={i}>{g}</span>
        ))}
      </p>
      <h4>Devices</h4>
      <ul className="safety-devices" data-testid="safety-devices">
        {devices.map((d) => (
          <li key={`${d.userId}:${d.deviceId}`}>{label(d)}</li>
        ))}
      </ul>
      <OwnDevices e2e={e2e} me={me} onRemoved={onDevicesChanged} />
      <button type="button" className="button" onClick={onClose} autoFocus>
        Close
      </button>
    </dialog>
  );
}
