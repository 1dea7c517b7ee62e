# The two commands a newcomer needs: `make dev` runs referflow on this
# machine, `make test` runs every test (installing what it needs first).

GO ?= go
# -race needs cgo; -count=1 because the tests talk to real services and a
# cached pass would hide their state; the suite stays well under the timeout.
TEST_FLAGS ?= -race -count=1 -timeout 15m

# The chaos suite is long (minutes) and kills processes on purpose: its own
# target, which CI runs after `make test`.
CHAOS_FLAGS ?= -race -count=1 -timeout 30m -v

# The browser suite drives a real headless Chromium through the public pages:
# its own target too (it installs chromium first), which CI runs after chaos.
BROWSER_FLAGS ?= -race -count=1 -timeout 20m -v

.PHONY: dev reset test chaos browser tools build vet generate check-generated

## dev: run the whole product locally (Postgres, Temporal dev server + Web UI, API, worker)
dev: build
	./bin/referflow dev

## reset: delete what `make dev` made for this checkout (its database, keys,
## simulator state, Temporal database, logs: see README.md) to start from nothing
reset: build
	./bin/referflow dev reset

## test: install tools, vet, check generated code, run every test with -race
test: tools vet check-generated
	$(GO) test $(TEST_FLAGS) ./...

## chaos: the chaos suite: referflow as separate processes, killed and restarted at
## points drawn from a printed seed (REFERFLOW_CHAOS_SEED=<seed> runs one again)
chaos: tools
	REFERFLOW_CHAOS=1 $(GO) test $(CHAOS_FLAGS) -run '^TestChaos$$' ./e2e/chaos/

## browser: the browser suite: referflow's public pages in headless Chromium
## (installs Debian's chromium first when absent)
browser:
	./scripts/install-tools.sh --browser
	REFERFLOW_BROWSER=1 $(GO) test $(BROWSER_FLAGS) ./internal/dev/browser/ ./e2e/browser/

## tools: the pinned sqlc and Temporal CLI in bin/, PostgreSQL when absent
tools:
	./scripts/install-tools.sh

## build: the referflow binary in bin/
build:
	$(GO) build -o bin/referflow ./cmd/referflow

vet:
	$(GO) vet ./...

## generate: regenerate the sqlc code under db/ after changing a .sql file
generate: tools
	cd db && ../bin/sqlc generate

## check-generated: fail when the committed sqlc code does not match the SQL
check-generated:
	@cd db && ../bin/sqlc diff || { echo "db/: generated code is stale: run 'make generate' and commit the result" >&2; exit 1; }
