import { Identicon } from './identicon';

/** Only http(s) images are shown; anything else (data:, javascript:, junk) gets the identicon. */
function safeImage(image: string | null | undefined): string | null {
  if (!image) return null;
  try {
    const url = new URL(image);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.toString() : null;
  } catch {
    return null;
  }
}

/** The user's picture or their identicon, with an optional presence dot. Decorative: names are shown beside it. */
export function Avatar({ userId, image, size = 32, online }: { userId: string; image?: string | null; size?: number; online?: boolean }) {
  const src = safeImage(image);
  return (
    <span className="avatar-wrap" style={{ width: size, height: size }}>
      {src ? (
        // A plain <img>: user pictures come from any host, so next/image's optimiser does not apply.
        <img className="avatar" src={src} alt="" width={size} height={size} referrerPolicy="no-referrer" />
      ) : (
        <Identicon userId={userId} size={size} />
      )}
      {online !== undefined && <span className={online ? 'presence presence-online' : 'presence presence-offline'} aria-hidden="true" />}
    </span>
  );
}
