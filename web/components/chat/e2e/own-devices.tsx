'use client';
/**
 * The signed-in user's devices in the key directory, "this browser" marked, with "Remove" on each
 * other one: the way out when the directory is full (at most 10 devices; every browser, or
 * cleared site data, is a new one). Removing raises keys.changed, so contacts see a key change.
 * Listing and removing are plain authenticated calls: they work before this browser's device
 * is published.
 */
import type { DeviceBundle } from '@chat/protocol';
import { useState, useSyncExternalStore } from 'react';
import useSWR from 'swr';
import type { DeviceStatus, PanelE2E } from './panel-e2e';

export function useDeviceStatus(e2e: PanelE2E): DeviceStatus {
  return useSyncExternalStore(
    (l) => e2e.subscribeStatus(l),
    () => e2e.deviceStatus(),
    () => e2e.deviceStatus(),
  );
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

function keyDate(d: DeviceBundle): string {
  const at = new Date(d.encryptionKey.createdAt);
  return Number.isNaN(at.getTime()) ? '' : ` · keys from ${dateFormat.format(at)}`;
}

export function OwnDevices({ e2e, me, onRemoved }: { e2e: PanelE2E; me: string; onRemoved?(): void }) {
  const status = useDeviceStatus(e2e);
  const thisDevice = status.state === 'ready' ? status.deviceId : null;
  const devices = useSWR(['e2e-own-devices', me], () => e2e.ownDevices(), { revalidateOnFocus: false });
  const [removing, setRemoving] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function remove(deviceId: string) {
    setError(null);
    setRemoving(deviceId);
    try {
      await e2e.removeDevice(deviceId);
      await devices.mutate();
      onRemoved?.();
    } catch (e) {
      setError(e instanceof Error ? `Could not remove the device: ${e.message}` : 'Could not remove the device.');
    } finally {
      setRemoving(null);
    }
  }

  // This browser first, then the others by their keys' age, newest first.
  const list = [...(devices.data ?? [])].sort((a, b) => Number(b.deviceId === thisDevice) - Number(a.deviceId === thisDevice) || String(b.encryptionKey.createdAt).localeCompare(String(a.encryptionKey.createdAt)));
  return (
    <section className="own-devices" aria-labelledby={`own-devices-${me}`} data-testid="own-devices">
      <h4 id={`own-devices-${me}`}>Your devices</h4>
      {devices.error && !devices.data && <p className="error-text">Could not load your devices.</p>}
      {!devices.data && !devices.error && <p className="small muted">Loading your devices…</p>}
      {devices.data && (
        <ul className="own-device-list" data-count={list.length}>
          {list.map((d) => {
            const short = d.deviceId.slice(0, 8);
            const mine = d.deviceId === thisDevice;
            return (
              <li key={d.deviceId} data-testid="own-device" data-device-id={d.deviceId}>
                <span>
                  Device {short}
                  {mine ? ' (this browser)' : ''}
                  <span className="muted">{keyDate(d)}</span>
                </span>
                {!mine && (
                  <button type="button" className="button button-small button-ghost" aria-label={`Remove device ${short}`} disabled={removing !== null} onClick={() => void remove(d.deviceId)}>
                    {removing === d.deviceId ? 'Removing…' : 'Remove'}
                  </button>
                )}
              </li>
            );
          })}
        </ul>
      )}
      {error && (
        <p className="error-text" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
