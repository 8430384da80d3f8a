/** Reads an instance's /metrics (Prometheus text format) over HTTP, as a scraper would. */

export type Scrape = string;

export async function scrape(httpBase: string): Promise<Scrape> {
  const response = await fetch(`${httpBase}/metrics`);
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  return response.text();
}

/** Sum of every series of `name` whose labels include all of `labels`; 0 when there is none. */
export function metric(text: Scrape, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    let labelText = '';
    let valueText = rest.trim();
    if (rest[0] === '{') {
      const end = rest.indexOf('}');
      labelText = rest.slice(1, end);
      valueText = rest.slice(end + 1).trim();
    }
    const found = new Map<string, string>();
    for (const match of labelText.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) found.set(match[1]!, match[2]!);
    if (Object.entries(labels).every(([k, v]) => found.get(k) === v)) total += Number(valueText.split(' ')[0]);
  }
  return total;
}

export async function readMetric(httpBase: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  return metric(await scrape(httpBase), name, labels);
}
