import Link from 'next/link';
import { formatPrice, PRODUCTS } from '@/lib/products';

export default function ProductListPage() {
  return (
    <>
      <section className="hero">
        <h1>Handmade, from people you can talk to</h1>
        <p className="muted">Every piece ships from its maker. Questions about size, glaze or delivery? Message the seller.</p>
      </section>
      <ul className="product-grid" aria-label="Products">
        {PRODUCTS.map((p) => (
          <li key={p.id}>
            <Link href={`/products/${p.id}`} className="product-card">
              <span className="product-art" style={{ background: p.color }} aria-hidden="true">
                {p.emoji}
              </span>
              <span className="product-name">{p.name}</span>
              <span className="muted">{p.summary}</span>
              <span className="product-price">{formatPrice(p.priceCents)}</span>
            </Link>
          </li>
        ))}
      </ul>
    </>
  );
}
