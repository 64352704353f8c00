// Command metrics exports tikvgo's metrics to Prometheus through
// OpenTelemetry's Prometheus exporter: the cluster is given a meter provider
// (tikv.WithMeterProvider) whose reader is the exporter, registered on a
// Prometheus registry served at /metrics, as an application would serve
// it. The example runs a few calls, scrapes its own /metrics once over
// HTTP, prints the tikvgo series it found and exits.
//
// The series (OTel names, as the exporter translates them): call duration
// per API (db_client_operation_duration_seconds), attempt duration per
// command and store, attempts in flight, backoff sleeps per policy,
// region-cache misses and loads, routing invalidations per region error,
// PD call and commit durations.
//
// With no -pd flag it starts an embedded mocktikv (three stores, served
// over gRPC on loopback):
//
//	go run ./examples/metrics
//	go run ./examples/metrics -pd 127.0.0.1:2379   # a real cluster
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/txn"
)

func main() {
	pd := flag.String("pd", "", "comma-separated PD addresses; empty starts an embedded mocktikv")
	flag.Parse()
	if err := run(os.Stdout, *pd); err != nil {
		fmt.Fprintln(os.Stderr, "metrics:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, pdFlag string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var addrs []string
	if pdFlag == "" {
		mock := mocktikv.NewCluster(mocktikv.WithStores(3))
		if err := mock.Serve(); err != nil {
			return fmt.Errorf("start mocktikv: %w", err)
		}
		defer mock.Close()
		addrs = mock.PDAddrs()
		fmt.Fprintf(out, "started mocktikv: PD at %s\n", strings.Join(addrs, ","))
	} else {
		addrs = strings.Split(pdFlag, ",")
	}

	// A registry of the application's, the exporter on it, and the
	// exporter as the meter provider's reader.
	registry := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer mp.Shutdown(context.Background())

	cluster, err := tikv.Connect(ctx, addrs, tikv.WithMeterProvider(mp))
	if err != nil {
		return err
	}
	defer cluster.Close()

	client := raw.NewClient(cluster)
	for i := range 10 {
		key := fmt.Appendf(nil, "metrics/%02d", i)
		if err := client.Put(ctx, key, []byte("v")); err != nil {
			return fmt.Errorf("put: %w", err)
		}
		if _, err := client.Get(ctx, key); err != nil {
			return fmt.Errorf("get: %w", err)
		}
	}
	tc := txn.NewClient(cluster)
	if err := tc.Update(ctx, func(ctx context.Context, t *txn.Txn) error {
		return t.Set([]byte("metrics/txn"), []byte("v"))
	}); err != nil {
		return fmt.Errorf("txn: %w", err)
	}
	if err := tc.Close(ctx); err != nil {
		return err
	}

	// Serve /metrics on loopback, scrape it once, stop.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	scraped, scrapeErr := scrape(ctx, "http://"+ln.Addr().String()+"/metrics")
	if err := srv.Shutdown(ctx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if scrapeErr != nil {
		return scrapeErr
	}
	fmt.Fprintf(out, "scraped /metrics: tikvgo series (count and sum lines, buckets omitted):\n")
	sc := bufio.NewScanner(strings.NewReader(scraped))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.Contains(line, "_bucket{") {
			continue
		}
		if strings.HasPrefix(line, "db_client_") || strings.HasPrefix(line, "tikv_client_") {
			fmt.Fprintln(out, " ", line)
		}
	}
	return sc.Err()
}

// scrape GETs url and returns the body.
func scrape(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	return string(body), nil
}
