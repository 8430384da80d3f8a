# The two commands: `make dev` (set up and run on the embedded default) and `make test`.
# Only Node.js and npm are assumed: pnpm comes through npx, pinned.
PNPM ?= npx -y pnpm@10.34.9

.PHONY: install dev test system-deps build typecheck clean

install:
	$(PNPM) install --frozen-lockfile

# node itself runs the dev runner (no npx → pnpm → tsx wrappers in between), so a SIGTERM to
# `make dev` reaches it: it drains the service, stops the database, then exits 0 (make itself
# still reports the signal, as make does).
dev: install
	cd scripts && exec node --import tsx src/dev.ts

# Chromium, nginx, promtool and nats-server, which the tests drive for real (installed with apt-get as root).
system-deps:
	bash .ci/system-deps

test: install system-deps
	$(PNPM) test

build: install
	$(PNPM) build

typecheck: install
	$(PNPM) typecheck

# The embedded PostgreSQL's data. As root in a folder its postgres user cannot reach (a clone
# under /root), .data/postgres is a link to the real folder under /var/tmp: remove both.
clean:
	@target=$$(readlink .data/postgres 2>/dev/null); \
	case "$$target" in /var/tmp/chat-embedded-postgres-*/data/*) rm -rf "$$target";; esac
	rm -rf .data
