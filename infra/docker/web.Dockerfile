# syntax=docker/dockerfile:1.7
#
# The Next.js storefront (@chat/web) from its standalone output. Build from the repository root:
#
#   docker build -f infra/docker/web.Dockerfile \
#     --build-arg NEXT_PUBLIC_CHAT_URL=https://shop.example.com -t chat-web:0.1.0 .
#
# NEXT_OUTPUT=standalone makes web/next.config.ts emit the standalone server. NEXT_PUBLIC_CHAT_URL is inlined into
# the browser bundle at build time: the public origin where /v1 and /ws are served (behind
# infra/nginx, the same origin as the storefront). Runtime secrets (NEXTAUTH_SECRET,
# NEXTAUTH_URL) come from the deployment, never from the image.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS pnpm
RUN npm i -g pnpm@10.34.9 && pnpm --version
ENV CI=true \
    NEXT_TELEMETRY_DISABLED=1
WORKDIR /repo

# ---------------------------------------------------------------------------------------
FROM pnpm AS build
# All packages of the lockfile (dev ones too: the build needs them), reused until it changes.
COPY pnpm-lock.yaml pnpm-workspace.yaml package.json ./
COPY patches/ patches/
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm fetch --store-dir /pnpm/store
# The workspace (.dockerignore keeps node_modules, .next, .data and the like out).
COPY . .
ARG NEXT_PUBLIC_CHAT_URL=http://localhost:8080
ENV NEXT_PUBLIC_CHAT_URL=${NEXT_PUBLIC_CHAT_URL} \
    NEXT_OUTPUT=standalone
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm install --offline --frozen-lockfile --filter @chat/web... --store-dir /pnpm/store
RUN pnpm --filter @chat/web build
RUN test -f web/.next/standalone/web/server.js || \
    { echo 'web/.next/standalone/web/server.js is missing: set output: "standalone" in web/next.config.ts' >&2; exit 1; }
# The standalone server serves .next/static and public/ only when they sit beside it.
RUN mkdir -p web/public && \
    cp -r web/.next/static web/.next/standalone/web/.next/static && \
    cp -r web/public web/.next/standalone/web/public

# ---------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    NEXT_TELEMETRY_DISABLED=1 \
    HOSTNAME=0.0.0.0 \
    PORT=3000
# The standalone tree: a pruned node_modules at the workspace root plus web/server.js, owned
# by root; only Next.js's cache folder is writable by the server.
COPY --from=build /repo/web/.next/standalone /app
RUN mkdir -p /app/web/.next/cache && chown 1000:1000 /app/web/.next/cache
# The `node` user of the base image (uid/gid 1000).
USER 1000:1000
WORKDIR /app/web
EXPOSE 3000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/').then(r=>process.exit(r.status<500?0:1),()=>process.exit(1))"]
CMD ["node", "server.js"]
