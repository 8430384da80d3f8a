/** The docs are part of the product: every error code and every setting is documented. */
import { CLOSE_CODES, ERROR_CODES } from '@chat/protocol';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

describe('documentation', () => {
  it('docs/protocol.md lists every error code and close code', () => {
    const protocol = read('docs/protocol.md');
    const table = protocol.slice(protocol.indexOf('## Error codes'));
    expect(ERROR_CODES.filter((code) => !table.includes(`| \`${code}\` |`))).toEqual([]);
    expect(Object.values(CLOSE_CODES).filter((code) => !protocol.includes(`| ${code} |`))).toEqual([]);
  });

  it('the README documents every environment variable the service reads', () => {
    const config = read('services/chat/src/config.ts');
    const names = new Set([...config.matchAll(/env(?:\.|\[')([A-Z][A-Z0-9_]+)/g), ...config.matchAll(/int\(env, '([A-Z0-9_]+)'/g), ...config.matchAll(/bool\(env, '([A-Z0-9_]+)'/g), ...config.matchAll(/oneOf\(env, '([A-Z0-9_]+)'/g)].map((m) => m[1]!));
    names.delete('NODE_ENV');
    expect(names.size).toBeGreaterThan(20);
    const readme = read('README.md');
    expect([...names].filter((name) => !readme.includes(`\`${name}\``))).toEqual([]);
  });
});
