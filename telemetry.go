package tikv

import (
	"fmt"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/middleware/otelkv"
	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/transport"
)

// buildTelemetry builds the OpenTelemetry layer when WithTracerProvider or
// WithMeterProvider asked for it, and joins its observer with the user's
// (WithObserver), ours first, so the user's spans nest inside the call's.
// With neither provider nothing is built: no middleware, no observer, no
// cost.
func (c *config) buildTelemetry() error {
	if c.tracerProvider == nil && c.meterProvider == nil {
		return nil
	}
	t, err := otelkv.New(c.tracerProvider, c.meterProvider)
	if err != nil {
		return fmt.Errorf("tikv: telemetry: %w", err)
	}
	c.telemetry = t
	c.observer = observe.Join(t.Observer(), c.observer)
	return nil
}

// oraclePD is the PD the cluster's oracle asks for timestamps: pd itself,
// or, under telemetry, pd reporting each timestamp fetched for a call.
func (c *config) oraclePD(pd pdclient.PD) pdclient.PD {
	if c.telemetry == nil {
		return pd
	}
	return otelkv.ObserveTSO(pd)
}

// appendNonNil appends the middleware that are not nil.
func appendNonNil(mws []transport.Middleware, more ...transport.Middleware) []transport.Middleware {
	for _, m := range more {
		if m != nil {
			mws = append(mws, m)
		}
	}
	return mws
}

// batchObserver is the pool option that feeds BatchCommands batch sizes and
// queue waits to the metrics, when they are on.
func (c *config) batchObserver() []transport.PoolOption {
	if c.telemetry == nil {
		return nil
	}
	if f := c.telemetry.BatchObserver(); f != nil {
		return []transport.PoolOption{transport.WithBatchObserver(f)}
	}
	return nil
}

// watchState has the metrics read the cluster's state at each collection:
// the region caches' hits, the pool's connection states and the circuit
// breakers' states (otelkv.Telemetry.Watch). Close stops it.
func (c *Cluster) watchState(t *otelkv.Telemetry) error {
	if t == nil {
		return nil
	}
	src := otelkv.Sources{CacheHits: map[string]func() uint64{
		"raw": c.caches[kv.ModeRaw].Hits,
		"txn": c.caches[kv.ModeTxn].Hits,
	}}
	if c.pool != nil {
		src.ConnStates = c.pool.ConnStates
	}
	if c.breaker != nil {
		src.BreakerStates = c.breaker.States
	}
	stop, err := t.Watch(src)
	if err != nil {
		return fmt.Errorf("tikv: telemetry: %w", err)
	}
	c.unwatch = stop
	return nil
}
