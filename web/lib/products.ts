/** The demo catalogue. Every product is sold by carol, so "Message the seller" opens a chat with her. */
export interface Product {
  id: string;
  name: string;
  priceCents: number;
  summary: string;
  description: string;
  /** Shown on the product tile. */
  emoji: string;
  color: string;
  sellerId: string;
  sellerName: string;
}

const seller = { sellerId: 'carol', sellerName: 'Carol Seller' };

export const PRODUCTS: readonly Product[] = [
  {
    id: 'ceramic-mug',
    name: 'Hand-thrown ceramic mug',
    priceCents: 2800,
    summary: 'Speckled stoneware, 350 ml.',
    description: 'Thrown on the wheel and glazed in a speckled oatmeal finish. Dishwasher safe; every piece is slightly different.',
    emoji: '☕',
    color: '#f3e3d3',
    ...seller,
  },
  {
    id: 'linen-tote',
    name: 'Linen tote bag',
    priceCents: 3400,
    summary: 'Heavy washed linen with an inside pocket.',
    description: 'A roomy everyday bag in stone-washed linen, with leather handles and an inside zip pocket for keys.',
    emoji: '👜',
    color: '#e3ecdf',
    ...seller,
  },
  {
    id: 'beeswax-candle',
    name: 'Beeswax pillar candle',
    priceCents: 1900,
    summary: 'Pure beeswax, about 40 hours.',
    description: 'Poured from local beeswax with a cotton wick. Burns clean with a faint honey scent for about 40 hours.',
    emoji: '🕯️',
    color: '#fbefc9',
    ...seller,
  },
  {
    id: 'walnut-board',
    name: 'Walnut serving board',
    priceCents: 6400,
    summary: 'Solid black walnut, oiled.',
    description: 'Cut from a single piece of black walnut and finished with food-safe oil. 45 × 20 cm.',
    emoji: '🪵',
    color: '#e8dcd2',
    ...seller,
  },
];

export function findProduct(id: string): Product | undefined {
  return PRODUCTS.find((p) => p.id === id);
}

export function formatPrice(cents: number): string {
  return new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' }).format(cents / 100);
}
