# syntax=docker/dockerfile:1.7
#
# The chat service (@chat/service), compiled to JavaScript: services/chat/build.mjs bundles
# src/server.ts and the migrator with the workspace packages they need (@chat/protocol,
# @chat/db) into dist/, and the image keeps the bundles, @chat/db's SQL migrations and the
# production dependencies. Build from the repository root:
#
#   docker build -f infra/docker/chat.Dockerfile -t chat-service:0.1.0 .
#
# Run:      DATABASE_URL and AUTH_SECRET (or NEXTAUTH_SECRET) are required (NODE_ENV=production;
#           there is no embedded PostgreSQL in the image).
# Migrate:  docker run --rm -e DATABASE_URL=... chat-service:0.1.0 node /app/services/chat/dist/migrate.js
#           (compose's `migrate` service and the k8s Job run exactly this).
#
# `node dist/server.js` in exec form: node itself is PID 1 and receives SIGTERM (graceful drain).

ARG NODE_IMAGE=node:20-bookworm-slim

# ---------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS pnpm
# corepack-free, pinned like the root package.json's packageManager.
RUN npm i -g pnpm@10.34.9 && pnpm --version
ENV CI=true
WORKDIR /repo

# ---------------------------------------------------------------------------------------
FROM pnpm AS build
# 1. Every package of the lockfile, fetched from the lockfile alone (this layer is reused
#    until the lockfile changes); the build needs devDependencies too (esbuild).
COPY pnpm-lock.yaml pnpm-workspace.yaml package.json ./
COPY patches/ patches/
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm fetch --store-dir /pnpm/store
# 2. The three workspace packages the service needs, nothing else of the repository.
COPY tsconfig.json ./
COPY services/protocol/ services/protocol/
COPY db/ db/
COPY services/chat/ services/chat/
# 3. Install @chat/service and its workspace packages (offline, exactly the lockfile's
#    versions), build dist/server.js and dist/migrate.js, then install again with
#    production dependencies only. embedded-postgres is a devDependency of @chat/db: the
#    image has no PostgreSQL server binaries.
# 4. Only what runs stays: the bundles, db/migrations (read by both bundles), the package
#    manifests and node_modules; the TypeScript sources, tests and build script go.
# 5. Smoke check: both bundles load with every import resolved (without DATABASE_URL each
#    then refuses to start, exit 2).
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm install --offline --frozen-lockfile --filter @chat/service... --store-dir /pnpm/store && \
    pnpm --filter @chat/service build && \
    rm -rf node_modules services/chat/node_modules services/protocol/node_modules db/node_modules && \
    pnpm install --offline --frozen-lockfile --prod --filter @chat/service... --store-dir /pnpm/store && \
    rm -rf services/chat/src services/chat/test services/chat/vitest.config.ts services/chat/build.mjs \
      services/protocol/src db/src db/drizzle.config.ts && \
    cd services/chat && \
    { node dist/migrate.js; test $? -eq 2; } && \
    { NODE_ENV=production AUTH_SECRET=image-build-smoke-check-0123456789abcdef node dist/server.js; test $? -eq 2; }

# ---------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# Production defaults; DATABASE_URL and AUTH_SECRET come from the deployment.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000 \
    CHAT_DATA_DIR=/data \
    MIGRATE_ON_START=false \
    SEED_DEMO=false
# The code stays owned by root (read-only for the service); only /data is its own.
COPY --from=build /repo /app
RUN mkdir -p /data/attachments && chown -R 1000:1000 /data
# The `node` user of the base image (uid/gid 1000); numeric so Kubernetes can verify runAsNonRoot.
USER 1000:1000
WORKDIR /app/services/chat
# Attachments (local-disk store, ATTACHMENTS_DIR defaults to $CHAT_DATA_DIR/attachments).
# Several instances need one shared volume here.
VOLUME ["/data/attachments"]
EXPOSE 4000
STOPSIGNAL SIGTERM
# Liveness of the process (no curl in the slim image): node's fetch against /healthz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/server.js"]
