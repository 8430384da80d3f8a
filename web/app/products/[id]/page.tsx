import type { Metadata } from 'next';
import Link from 'next/link';
import { notFound } from 'next/navigation';
import { Avatar } from '@/components/chat/avatar';
import { findProduct, formatPrice } from '@/lib/products';
import { MessageSellerButton } from './message-seller-button';

export async function generateMetadata({ params }: { params: Promise<{ id: string }> }): Promise<Metadata> {
  const product = findProduct((await params).id);
  return { title: product?.name ?? 'Product not found' };
}

export default async function ProductPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  const product = findProduct(id);
  if (!product) notFound();
  return (
    <article className="product-page">
      <p>
        <Link href="/">← All products</Link>
      </p>
      <div className="product-layout">
        <div className="product-art product-art-large" style={{ background: product.color }} aria-hidden="true">
          {product.emoji}
        </div>
        <div className="product-info">
          <h1>{product.name}</h1>
          <p className="product-price">{formatPrice(product.priceCents)}</p>
          <p>{product.description}</p>
          <div className="seller">
            <Avatar userId={product.sellerId} size={40} />
            <div>
              <div className="muted">Sold by</div>
              <strong>{product.sellerName}</strong>
            </div>
          </div>
          <MessageSellerButton sellerId={product.sellerId} sellerName={product.sellerName} productId={product.id} />
        </div>
      </div>
    </article>
  );
}
