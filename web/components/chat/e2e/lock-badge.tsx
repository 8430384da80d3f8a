import { LockIcon } from '../icons';

/** The lock of an encrypted conversation: an image with an accessible name, on its header and list row. */
export function LockBadge({ size }: { size?: number }) {
  return (
    <span className="lock-badge" role="img" aria-label="End-to-end encrypted" title="End-to-end encrypted" data-testid="e2e-lock">
      <LockIcon size={size} />
    </span>
  );
}
