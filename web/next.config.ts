import type { NextConfig } from 'next';

const config: NextConfig = {
  // The workspace packages ship TypeScript sources.
  transpilePackages: ['@chat/client', '@chat/protocol'],
  reactStrictMode: true,
  // Container images (infra/docker/web.Dockerfile) build the self-contained server;
  // `next start` (dev, tests) keeps the default output.
  output: process.env.NEXT_OUTPUT === 'standalone' ? 'standalone' : undefined,
  poweredByHeader: false,
  // The browser tests build into their own folder so they never clobber a developer's build.
  distDir: process.env.NEXT_DIST_DIR || '.next',
  // The build checks the app's own types; the tests (which import the service) are checked by `pnpm typecheck`.
  typescript: { tsconfigPath: 'tsconfig.build.json' },
};

export default config;
