package transport

import "time"

// Defaults of BatchConfig; each is client-go's TiKVClient default.
const (
	// DefaultMaxBatchSize caps the sub-requests in one BatchCommandsRequest.
	DefaultMaxBatchSize = 128
	// DefaultBatchWaitSize is how many requests a send loop waits for when
	// TiKV reports overload and MaxBatchWaitTime is set.
	DefaultBatchWaitSize = 8
	// DefaultOverloadThreshold is the transport_layer_load (TiKV's gRPC CPU
	// usage in percent) above which TiKV counts as overloaded.
	DefaultOverloadThreshold = 200
)

// highTaskPriority is client-go's threshold: requests whose
// Context.ResourceControlContext.OverridePriority is at least this go before
// others and are not held back by BatchConfig.MaxConcurrency.
const highTaskPriority = 10

// BatchConfig tunes the Pool's BatchCommands streams. A zero field takes its
// default, except MaxBatchWaitTime, whose default is zero.
type BatchConfig struct {
	// MaxBatchSize caps the requests in one BatchCommandsRequest (default
	// DefaultMaxBatchSize).
	MaxBatchSize int
	// Policy is the turbo trigger that may hold a batch for up to 0.1ms to
	// let it grow (default BatchPolicyStandard; unknown names also get it).
	Policy BatchPolicy
	// MaxBatchWaitTime, when > 0, is how long a send loop may wait to fill
	// BatchWaitSize requests while the store reports a transport_layer_load
	// above OverloadThreshold. Zero (the default) disables this wait.
	MaxBatchWaitTime time.Duration
	// BatchWaitSize is the batch size the overload wait aims for (default
	// DefaultBatchWaitSize); it also seeds the turbo trigger's size estimate.
	BatchWaitSize int
	// OverloadThreshold is the transport_layer_load above which a store
	// counts as overloaded (default DefaultOverloadThreshold).
	OverloadThreshold uint64
	// MaxConcurrency caps the requests in flight on one stream, that is per
	// connection (client-go's MaxConcurrencyRequestLimit). Requests over the
	// cap wait in the queue, bounded by their ctx. Zero means no cap.
	// High-priority requests are sent regardless.
	MaxConcurrency int

	// onBatch is WithBatchObserver's callback (pool_stats.go); nil: none.
	onBatch func(BatchStats)
}

// withDefaults fills the zero fields.
func (c BatchConfig) withDefaults() BatchConfig {
	if c.MaxBatchSize <= 0 {
		c.MaxBatchSize = DefaultMaxBatchSize
	}
	if c.Policy == "" {
		c.Policy = BatchPolicyStandard
	}
	if c.MaxBatchWaitTime < 0 {
		c.MaxBatchWaitTime = 0
	}
	if c.BatchWaitSize <= 0 {
		c.BatchWaitSize = DefaultBatchWaitSize
	}
	if c.OverloadThreshold == 0 {
		c.OverloadThreshold = DefaultOverloadThreshold
	}
	if c.MaxConcurrency < 0 {
		c.MaxConcurrency = 0
	}
	return c
}

// WithBatch sends batchable commands (Cmd.Batchable) over BatchCommands
// streams configured by cfg; the Pool does so by default, with the zero
// BatchConfig.
func WithBatch(cfg BatchConfig) PoolOption {
	return func(c *poolConfig) {
		onBatch := c.batch.onBatch // WithBatchObserver's, in any order
		c.batch = cfg.withDefaults()
		c.batch.onBatch = onBatch
		c.noBatch = false
	}
}

// WithoutBatch makes the Pool send every command as a unary call and open
// no BatchCommands stream, as client-go does with MaxBatchSize 0.
func WithoutBatch() PoolOption {
	return func(c *poolConfig) { c.noBatch = true }
}
