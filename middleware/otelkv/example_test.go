package otelkv_test

import (
	"context"
	"fmt"
	"strings"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
)

// Example turns tracing on for a cluster with tikv.WithTracerProvider (the
// cluster builds the otelkv layer itself) and prints the span tree of one
// raw Put: the call's span, the cold region cache's PD lookups and the
// attempt. An application passes its own SDK tracer provider, with an
// exporter; tikv.WithMeterProvider turns metrics on the same way.
func Example() {
	mock := mocktikv.NewCluster()
	defer mock.Close()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	cluster, err := tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()),
		tikv.WithTracerProvider(tp))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cluster.Close()
	if err := raw.NewClient(cluster).Put(context.Background(), []byte("k"), []byte("v")); err != nil {
		fmt.Println(err)
		return
	}
	ended := spans.Ended()
	for _, s := range ended {
		if !s.Parent().IsValid() {
			fmt.Println(s.Name())
			for _, c := range ended {
				if c.Parent().SpanID() == s.SpanContext().SpanID() {
					fmt.Println("  " + c.Name())
				}
			}
			var events []string
			for _, e := range s.Events() {
				events = append(events, e.Name)
			}
			fmt.Println("  events:", strings.Join(events, ", "))
		}
	}
	// Output:
	// RawPut
	//   PD GetRegion
	//   PD GetStore
	//   tikvpb.Tikv/RawPut
	//   events: cache-miss, cache-load, cache-miss, cache-load
}
