package transport

import (
	"math"
	"time"
)

// BatchPolicy names how a BatchCommands send loop decides to wait for more
// requests once it has drained its queue: the "turbo" trigger of client-go's
// TiKVClient.BatchPolicy. Waiting trades a little latency for larger
// batches, which saves TiKV's gRPC threads CPU when requests arrive densely.
type BatchPolicy string

const (
	// BatchPolicyStandard waits up to 0.1ms for more requests when the
	// recent arrival interval is short: an exponentially weighted average
	// of the gaps between batches (weight 0.2, each gap capped at 0.5ms)
	// below 0.08ms. It is client-go's default.
	BatchPolicyStandard BatchPolicy = "standard"
	// BatchPolicyPositive always waits up to 0.1ms for more requests.
	BatchPolicyPositive BatchPolicy = "positive"
	// BatchPolicyBasic never waits: each batch is what was queued when the
	// send loop looked.
	BatchPolicyBasic BatchPolicy = "basic"
)

// turboMode is when the turbo trigger fires.
type turboMode uint8

const (
	turboAlways turboMode = iota
	turboTimeBased
)

// turboParams are client-go's turboBatchOptions: wait is T, maxGaps is N (a
// gap counts at most N*T), weight is W, threshold is P (fire when the average
// gap < P*T) and roundUp is Q (the wait size rounds the average batch size
// up when its fraction is >= Q).
type turboParams struct {
	mode      turboMode
	wait      time.Duration
	maxGaps   int
	weight    float64
	threshold float64
	roundUp   float64
}

// turboParamsFor returns the presets of client-go's presetBatchPolicies.
// Unknown names get the standard policy, as client-go falls back to it.
func turboParamsFor(p BatchPolicy) turboParams {
	switch p {
	case BatchPolicyBasic:
		return turboParams{} // wait 0: never fires
	case BatchPolicyPositive:
		return turboParams{mode: turboAlways, wait: 100 * time.Microsecond}
	default:
		return turboParams{mode: turboTimeBased, wait: 100 * time.Microsecond,
			maxGaps: 5, weight: 0.2, threshold: 0.8, roundUp: 0.8}
	}
}

// batchPolicy is one send loop's batching state. It does no I/O and reads
// no clock: the loop feeds it what it observed and gets back how long to
// keep collecting, so the decision is testable on its own.
type batchPolicy struct {
	maxBatch  int
	waitSize  int           // BatchWaitSize
	maxWait   time.Duration // MaxBatchWaitTime
	overload  uint64        // OverloadThreshold
	turbo     turboParams
	avgGap    float64 // seconds; 0 until the first gap is seen
	avgBatch  float64 // running average of batch sizes, seeded with waitSize
	maxGapSec float64
}

func newBatchPolicy(cfg BatchConfig) *batchPolicy {
	t := turboParamsFor(cfg.Policy)
	return &batchPolicy{
		maxBatch:  cfg.MaxBatchSize,
		waitSize:  cfg.BatchWaitSize,
		maxWait:   cfg.MaxBatchWaitTime,
		overload:  cfg.OverloadThreshold,
		turbo:     t,
		avgBatch:  float64(cfg.BatchWaitSize),
		maxGapSec: t.wait.Seconds() * float64(t.maxGaps),
	}
}

// plan is called after the loop drained its queue into a batch of n
// requests. gap is how long after the previous batch's newest request this
// batch's first one arrived (0 when unknown or not after it), and load is
// the transport_layer_load TiKV last reported for the store. It returns how
// long to keep collecting (0: send now) and the batch size at which to stop
// early.
//
// The rules are client-go's batchSendLoop: a TiKV whose gRPC load is above
// OverloadThreshold gets MaxBatchWaitTime to fill BatchWaitSize, when that
// wait is enabled; otherwise the turbo trigger may grant its short wait.
func (p *batchPolicy) plan(n int, gap time.Duration, load uint64) (wait time.Duration, target int) {
	if n >= p.maxBatch {
		return 0, n
	}
	if p.maxWait > 0 && load > p.overload {
		return p.maxWait, min(p.waitSize, p.maxBatch)
	}
	if p.turbo.wait > 0 && gap > 0 && p.fire(gap) {
		return p.turbo.wait, min(p.preferredSize(), p.maxBatch)
	}
	return 0, n
}

// sent records the size of a batch the loop wrote, for preferredSize.
func (p *batchPolicy) sent(n int) {
	p.avgBatch = 0.2*float64(n) + 0.8*p.avgBatch
}

// fire updates the arrival estimate with gap and says whether to wait.
func (p *batchPolicy) fire(gap time.Duration) bool {
	if p.turbo.mode != turboTimeBased {
		return true
	}
	g := min(gap.Seconds(), p.maxGapSec)
	if p.avgGap == 0 {
		p.avgGap = g
	} else {
		p.avgGap = p.turbo.weight*g + (1-p.turbo.weight)*p.avgGap
	}
	return p.avgGap < p.turbo.wait.Seconds()*p.turbo.threshold
}

// preferredSize is the batch size worth waiting for: the recent average,
// rounded up when its fraction reaches Q.
func (p *batchPolicy) preferredSize() int {
	if p.turbo.mode == turboAlways {
		return p.waitSize
	}
	whole, frac := math.Modf(p.avgBatch)
	n := int(whole)
	if frac >= p.turbo.roundUp {
		n++
	}
	return n
}
