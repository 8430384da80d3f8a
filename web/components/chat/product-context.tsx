'use client';
/**
 * Product context: a chat started from a product page carries that product. The reference is
 * the storefront's own product URL, written as the last line of the shopper's message
 * (`https://<storefront>/products/<id>`): any client shows a link, the service stores no
 * extra field, and this panel turns the link into a card from the storefront's catalogue, so
 * the name, price and picture are the storefront's, never text a sender typed. Only URLs of
 * this storefront's origin naming a product in its catalogue count; anything else stays text.
 */
import Link from 'next/link';
import { findProduct, formatPrice, type Product } from '@/lib/products';

const PRODUCT_PATH = /^\/products\/([a-z0-9-]{1,64})$/;

export function productUrl(productId: string): string {
  return `${window.location.origin}/products/${encodeURIComponent(productId)}`;
}

/** The message body with the product link appended on its own line. */
export function withProduct(body: string, productId: string): string {
  return `${body}\n\n${productUrl(productId)}`;
}

/** A body whose last line is one of this storefront's product URLs: the product, and the text without that line. */
export function splitProduct(body: string | null, origin: string | null): { product: Product; text: string } | null {
  if (body === null || origin === null) return null;
  const lines = body.split('\n');
  const last = lines[lines.length - 1]!.trim();
  if (!last.startsWith(`${origin}/products/`) || last.length > origin.length + 80) return null;
  let url: URL;
  try {
    url = new URL(last);
  } catch {
    return null;
  }
  if (url.origin !== origin || url.search || url.hash) return null;
  const id = PRODUCT_PATH.exec(url.pathname)?.[1];
  const product = id ? findProduct(id) : undefined;
  if (!product) return null;
  return { product, text: lines.slice(0, -1).join('\n').trimEnd() };
}

export function currentOrigin(): string | null {
  return typeof window === 'undefined' ? null : window.location.origin;
}

/** The product as a card: picture, name, price and a link to its page. */
/** `tabbable: false` inside a message: its More menu opens the product (one tab stop per message). */
export function ProductCard({ product, compact, testId, tabbable = true }: { product: Product; compact?: boolean; testId?: string; tabbable?: boolean }) {
  return (
    <div className={`product-chip${compact ? ' product-chip-compact' : ''}`} data-testid={testId ?? 'product-card'}>
      <span className="product-chip-art" style={{ background: product.color }} aria-hidden="true">
        {product.emoji}
      </span>
      <span className="product-chip-text">
        <Link href={`/products/${product.id}`} className="product-chip-name" tabIndex={tabbable ? undefined : -1}>
          {product.name}
        </Link>
        <span className="product-chip-price">{formatPrice(product.priceCents)}</span>
      </span>
    </div>
  );
}
