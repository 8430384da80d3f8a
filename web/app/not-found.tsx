import Link from 'next/link';

export default function NotFound() {
  return (
    <section className="center-page">
      <h1>Not found</h1>
      <p>
        <Link href="/">Back to the products</Link>
      </p>
    </section>
  );
}
