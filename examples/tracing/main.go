// Command tracing traces tikvgo's calls with OpenTelemetry: the cluster is
// given a tracer provider (tikv.WithTracerProvider) whose spans the SDK's
// stdout exporter prints as JSON. Each API call is one span, named after
// the API (RawGet, TxnCommit), with events for its backoffs, re-splits and
// region-cache misses; each attempt sent to a store is a child span named
// after its RPC (tikvpb.Tikv/RawGet) with the store, address, region and
// outcome; PD calls (region loads, the commit timestamp) are child spans
// too. The trace id also travels to TiKV in every request's
// kvrpcpb.Context, so TiKV's logs can be matched with the trace.
//
// With no -pd flag it starts an embedded mocktikv (three stores, two
// regions, served over gRPC on loopback) and makes the leader of one region
// move, so that one Get is re-routed: its span has two attempt children.
//
//	go run ./examples/tracing
//	go run ./examples/tracing -pd 127.0.0.1:2379   # a real cluster
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/txn"
)

func main() {
	pd := flag.String("pd", "", "comma-separated PD addresses; empty starts an embedded mocktikv")
	flag.Parse()
	if err := run(os.Stdout, *pd); err != nil {
		fmt.Fprintln(os.Stderr, "tracing:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, pdFlag string) error {
	// Spans end, and are printed, on the client's goroutines too (a commit's
	// secondaries finish in the background).
	out := &lockedWriter{w: w}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var mock *mocktikv.Cluster
	var addrs []string
	if pdFlag == "" {
		mock = mocktikv.NewCluster(mocktikv.WithStores(3))
		if _, err := mock.SplitTxn([]byte("tracing/m")); err != nil {
			return err
		}
		if err := mock.Serve(); err != nil {
			return fmt.Errorf("start mocktikv: %w", err)
		}
		defer mock.Close()
		addrs = mock.PDAddrs()
		fmt.Fprintf(out, "started mocktikv: PD at %s\n", strings.Join(addrs, ","))
	} else {
		addrs = strings.Split(pdFlag, ",")
	}

	// The SDK, with the stdout exporter. WithSyncer exports each span as it
	// ends (fine for an example; production uses WithBatcher).
	exporter, err := stdouttrace.New(stdouttrace.WithWriter(out), stdouttrace.WithPrettyPrint())
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName("tikvgo-tracing-example"))))
	defer tp.Shutdown(context.Background())

	cluster, err := tikv.Connect(ctx, addrs, tikv.WithTracerProvider(tp))
	if err != nil {
		return err
	}
	defer cluster.Close()

	// A span of the application's own: the client's spans nest inside it.
	ctx, app := tp.Tracer("example").Start(ctx, "example")
	defer app.End()

	client := raw.NewClient(cluster)
	if err := client.Put(ctx, []byte("tracing/a"), []byte("1")); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	if mock != nil {
		// Move the region's leader: the next Get first asks the old
		// leader, which answers NotLeader, then the new one.
		r, leader := mock.RegionByKey([]byte("tracing/a"))
		for _, id := range mock.StoreIDs() {
			if id != leader.GetStoreId() {
				if err := mock.TransferLeader(r.GetId(), id); err != nil {
					return err
				}
				break
			}
		}
	}
	v, err := client.Get(ctx, []byte("tracing/a"))
	if err != nil {
		return fmt.Errorf("get: %w", err)
	}

	// A transaction over both regions: one TxnCommit span, with a prewrite
	// per region, the commit timestamp and the primary's commit.
	tc := txn.NewClient(cluster)
	defer tc.Close(context.Background())
	err = tc.Update(ctx, func(ctx context.Context, t *txn.Txn) error {
		if err := t.Set([]byte("tracing/b"), []byte("2")); err != nil {
			return err
		}
		return t.Set([]byte("tracing/z"), []byte("3"))
	})
	if err != nil {
		return fmt.Errorf("txn: %w", err)
	}
	if err := tc.Close(ctx); err != nil { // waits for the secondaries
		return err
	}
	app.End()
	fmt.Fprintf(out, "get tracing/a = %s; trace %s\n", v, app.SpanContext().TraceID())
	return nil
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
