# tikvgo build targets. `make test` is what CI runs (.ci/run).
GO      ?= go
PKGS    ?= ./...

.PHONY: build test test-integration test-clientgo fuzz cover bench lint run soak chaos bank tikvbench

build:
	$(GO) build $(PKGS)

test:
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 $(PKGS)
	$(GO) run ./examples/customplan > /dev/null
	$(MAKE) fuzz
	$(GO) run ./cmd/tikvbench -duration 3s -threads 4 -recordcount 2000 -interval 0 -strict

# test-integration runs the black-box suites of tests/integration (public
# API only): against an embedded mocktikv, or against a running cluster when
# TIKV_PD_ADDRS (or TIKVGO_PD_ADDRS) names its PD, e.g.
# `TIKV_PD_ADDRS=127.0.0.1:2379 make test-integration`. Mock-only tests skip
# there with the reason. `make test` runs them against the mock as well.
test-integration:
	$(GO) test -race -count=1 -v -timeout 10m ./tests/integration/

# test-clientgo runs tikv/client-go's own client against cmd/mocktikv
# (tests/clientgo, a module of its own so the main module never depends on
# client-go): raw and transactional APIs, locks, GC, keyspaces. It needs a
# client-go source tree, since the module proxy serves only old releases:
# `CLIENT_GO_DIR=/path/to/client-go make test-clientgo`.
test-clientgo:
	tests/clientgo/run.sh $(ARGS)

# Fuzz targets, each for FUZZTIME (briefly in `make test`; longer by hand,
# e.g. `make fuzz FUZZTIME=5m`). Their seed corpora in testdata/fuzz also run
# as plain tests in every `go test`. The default is a count of inputs, not a
# duration: a duration-based -fuzztime can end in "context deadline
# exceeded" with no failing input when a worker misses the coordinator's
# deadline (go.dev/issue/75804; seen here on FuzzRegionIndexAgainstModel,
# whose workers sat at 0 execs/s until the deadline), while a count has no
# wall-clock deadline to miss.
FUZZTIME ?= 10000x
FUZZ_TARGETS = ./internal/apicodec:FuzzKeyRoundTrip ./internal/apicodec:FuzzRangeInKeyspace \
	./internal/apicodec:FuzzForeignKeyRejected ./txn/membuf:FuzzMembufAgainstModel \
	./internal/codec:FuzzBytesRoundTrip ./internal/codec:FuzzDecodeBytes \
	./pdclient:FuzzRegionIndexAgainstModel \
	./transport:FuzzBatchCommandsFraming ./transport:FuzzBatchCommandsMalformed \
	./codec:FuzzComparableVarint

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	done

# cover prints each package's statement coverage, the overall figure and
# issue #15's targets (overall >= 85%; pipeline, txn, pdclient >= 90%),
# counting a package's own files under the whole suite (-coverpkg=./...).
# scripts/cover.py also reads a saved profile: python3 scripts/cover.py FILE.
cover:
	$(GO) test -count=1 -coverpkg=./... -coverprofile=coverage.out $(PKGS)
	python3 scripts/cover.py coverage.out

bench:
	$(GO) test -run='^$$' -bench=. -benchmem $(PKGS)

lint:
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

# Issue #8's acceptance: 20,000 Connect + Put + Close cycles against
# mocktikv over gRPC (minutes; no -race). SOAK_CYCLES and SOAK_PROFILEDIR
# override the count and write heap profiles (see tests/soak/doc.go).
SOAK_CYCLES     ?= 20000
SOAK_PROFILEDIR ?=
soak:
	$(GO) test -count=1 -timeout 60m -run 'TestConnectPutCloseSoak$$' -v ./tests/soak \
		-soak.cycles=$(SOAK_CYCLES) $(if $(SOAK_PROFILEDIR),-soak.profiledir=$(SOAK_PROFILEDIR))

run:
	$(GO) run ./examples/quickstart

# tikvbench runs the YCSB-style workload driver (against an embedded
# mocktikv unless ARGS has -pd), e.g.
# `make tikvbench ARGS='-mode txn -workload b -duration 30s -threads 16'`.
# See cmd/tikvbench/doc.go for the flags.
ARGS ?=
tikvbench:
	$(GO) run ./cmd/tikvbench $(ARGS)

# chaos runs the linearizability checker long: every configuration keeps
# starting rounds for DURATION (so the whole run takes about 4x DURATION),
# with the nemesis and workload seeded by SEED. See tests/linearizability.
SEED          ?= 1
DURATION      ?= 10m
OPS           ?=
AT_LEAST_ONCE ?=
CHAOS_TIMEOUT ?= 3h
chaos:
	CHAOS_SEED=$(SEED) CHAOS_DURATION=$(DURATION) CHAOS_OPS=$(OPS) CHAOS_AT_LEAST_ONCE=$(AT_LEAST_ONCE) $(GO) test -race -count=1 -v -timeout $(CHAOS_TIMEOUT) \
		-run 'TestLinearizability' ./tests/linearizability/

# bank runs issue #10's bank-invariant test long: each configuration
# (in-process, gRPC) transfers money for DURATION under the nemesis and
# killer seeded by SEED, e.g. `make bank SEED=7 DURATION=5m`. See tests/bank.
bank:
	BANK_SEED=$(SEED) BANK_DURATION=$(DURATION) $(GO) test -race -count=1 -v -timeout $(CHAOS_TIMEOUT) \
		-run 'TestBank$$' ./tests/bank/
