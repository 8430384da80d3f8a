/**
 * Deterministic identicons: a 5×5 left-right symmetric grid and a hue, both from a
 * hash of the user id. Built as React elements (never parsed from a string), so an
 * id cannot inject markup.
 */

/** FNV-1a, 32 bits. */
function fnv1a(text: string, seed = 0x811c9dc5): number {
  let hash = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

export interface IdenticonModel {
  /** HSL colour of the filled cells. */
  color: string;
  background: string;
  /** Filled cells as [column, row], columns 0–4. */
  cells: [number, number][];
}

export function identicon(userId: string): IdenticonModel {
  const bits = fnv1a(userId);
  const hue = fnv1a(userId, 0x9e3779b9) % 360;
  const cells: [number, number][] = [];
  // 15 bits fill columns 0–2; columns 3–4 mirror 1–0.
  for (let i = 0; i < 15; i++) {
    if (((bits >>> i) & 1) === 0) continue;
    const column = Math.floor(i / 5);
    const row = i % 5;
    cells.push([column, row]);
    if (column < 2) cells.push([4 - column, row]);
  }
  // Never an empty face: fill the centre column when the hash gave nothing.
  if (cells.length === 0) for (let row = 0; row < 5; row++) cells.push([2, row]);
  return { color: `hsl(${hue} 55% 45%)`, background: `hsl(${hue} 60% 94%)`, cells };
}

export function Identicon({ userId, size }: { userId: string; size: number }) {
  const { color, background, cells } = identicon(userId);
  return (
    <svg className="avatar" width={size} height={size} viewBox="-0.5 -0.5 6 6" aria-hidden="true" focusable="false">
      <rect x={-0.5} y={-0.5} width={6} height={6} fill={background} />
      {cells.map(([x, y]) => (
        <rect key={`${x}-${y}`} x={x} y={y} width={1} height={1} fill={color} />
      ))}
    </svg>
  );
}
