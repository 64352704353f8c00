# tikvgo build targets. `make test` is what CI runs (.ci/run).
GO      ?= go
PKGS    ?= ./...

.PHONY: build test fuzz cover bench lint run

build:
	$(GO) build $(PKGS)

test:
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 $(PKGS)
	$(MAKE) fuzz

# Fuzz targets, each for FUZZTIME (briefly in `make test`; longer by hand,
# e.g. `make fuzz FUZZTIME=5m`). Their seed corpora in testdata/fuzz also run
# as plain tests in every `go test`.
FUZZTIME ?= 5s
FUZZ_TARGETS = ./internal/apicodec:FuzzKeyRoundTrip ./internal/apicodec:FuzzRangeInKeyspace \
	./internal/apicodec:FuzzForeignKeyRejected

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	done

cover:
	$(GO) test -count=1 -coverpkg=./... -coverprofile=coverage.out $(PKGS)
	$(GO) tool cover -func=coverage.out | tail -n 1

bench:
	$(GO) test -run='^$$' -bench=. -benchmem $(PKGS)

lint:
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

run:
	$(GO) run ./examples/quickstart
