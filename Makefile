# tikvgo build targets. `make test` is what CI runs (.ci/run).
GO      ?= go
PKGS    ?= ./...

.PHONY: build test cover bench lint run

build:
	$(GO) build $(PKGS)

test:
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 $(PKGS)

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
