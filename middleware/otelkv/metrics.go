package otelkv

import (
	"errors"

	"go.opentelemetry.io/otel/metric"
)

// Metric names. db.client.operation.duration is OTel's database-client
// metric; the others are tikvgo's, under tikv.client.
const (
	MetricOperationDuration = "db.client.operation.duration"
	MetricAttemptDuration   = "tikv.client.attempt.duration"
	MetricAttemptsInFlight  = "tikv.client.attempts.in_flight"
	MetricBackoffSleep      = "tikv.client.backoff.sleep.duration"
	MetricCacheMisses       = "tikv.client.region_cache.misses"
	MetricCacheLoads        = "tikv.client.region_cache.load.duration"
	MetricCacheInvalidated  = "tikv.client.region_cache.invalidations"
	MetricPDDuration        = "tikv.client.pd.duration"
	MetricLockResolutions   = "tikv.client.lock.resolutions"
	MetricCommitDuration    = "tikv.client.txn.commit.duration"
)

// durationBuckets are the conventions' advised boundaries for
// db.client.operation.duration, in seconds, used for every duration here.
var durationBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10}

// instruments are the meter's instruments, created once per Telemetry.
type instruments struct {
	opDuration      metric.Float64Histogram
	attemptDuration metric.Float64Histogram
	inFlight        metric.Int64UpDownCounter
	backoffSleep    metric.Float64Histogram
	cacheMisses     metric.Int64Counter
	cacheLoads      metric.Float64Histogram
	invalidations   metric.Int64Counter
	pdDuration      metric.Float64Histogram
	lockResolutions metric.Int64Counter
	commitDuration  metric.Float64Histogram
	batchSize       metric.Int64Histogram
	batchWait       metric.Float64Histogram
	meter           metric.Meter // for Watch's observable instruments
}

func newInstruments(m metric.Meter) (*instruments, error) {
	var errs []error
	hist := func(name, desc string) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithDescription(desc), metric.WithUnit("s"),
			metric.WithExplicitBucketBoundaries(durationBuckets...))
		errs = append(errs, err)
		return h
	}
	counter := func(name, desc, unit string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithDescription(desc), metric.WithUnit(unit))
		errs = append(errs, err)
		return c
	}
	in := &instruments{
		opDuration:      hist(MetricOperationDuration, "Duration of logical TiKV calls (one API call, retries included)."),
		attemptDuration: hist(MetricAttemptDuration, "Duration of physical attempts: one command to one store."),
		backoffSleep:    hist(MetricBackoffSleep, "Sleeps between retries, by backoff policy."),
		cacheMisses:     counter(MetricCacheMisses, "Region-cache lookups that had to ask PD.", "{miss}"),
		cacheLoads:      hist(MetricCacheLoads, "Duration of region and store loads after a cache miss."),
		invalidations:   counter(MetricCacheInvalidated, "Attempts whose routing TiKV corrected with a region error.", "{invalidation}"),
		pdDuration:      hist(MetricPDDuration, "Duration of PD RPCs made for calls (region and store loads, TSO)."),
		lockResolutions: counter(MetricLockResolutions, "Locks of other transactions resolved, by outcome and command (CheckTxnStatus on a primary, ResolveLock).", "{resolution}"),
		commitDuration:  hist(MetricCommitDuration, "Duration of transaction commits, by protocol."),
	}
	var err error
	in.meter = m
	in.batchSize, err = m.Int64Histogram(MetricBatchSize, metric.WithUnit("{request}"),
		metric.WithDescription("Requests per BatchCommands batch written."),
		metric.WithExplicitBucketBoundaries(batchSizeBuckets...))
	errs = append(errs, err)
	in.batchWait, err = m.Float64Histogram(MetricBatchWait, metric.WithUnit("s"),
		metric.WithDescription("How long each BatchCommands batch's oldest request waited in the stream's queue."),
		metric.WithExplicitBucketBoundaries(batchWaitBuckets...))
	errs = append(errs, err)
	in.inFlight, err = m.Int64UpDownCounter(MetricAttemptsInFlight, metric.WithDescription("Attempts sent and not yet answered."),
		metric.WithUnit("{attempt}"))
	errs = append(errs, err)
	return in, errors.Join(errs...)
}
