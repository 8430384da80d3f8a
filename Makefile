# The two commands: `make dev` (set up and run on the embedded default) and `make test`.
# Only Node.js and npm are assumed: pnpm comes through npx, pinned.
PNPM ?= npx -y pnpm@10.34.9

.PHONY: install dev test typecheck clean

install:
	$(PNPM) install --frozen-lockfile

dev: install
	$(PNPM) dev

test: install
	$(PNPM) test

typecheck: install
	$(PNPM) typecheck

clean:
	rm -rf .data
