package mocktikv

import (
	"math"
	"time"

	rmpb "github.com/pingcap/kvproto/pkg/resource_manager"
)

// acquire serves one AcquireTokenBuckets round (grpc_service.go): each
// request reports the group's consumption since its last request, then,
// unless it is a background report, asks for RU. A request naming a group
// that does not exist gets no response entry, as in PD.
func (s *rmState) acquire(now time.Time, req *rmpb.TokenBucketsRequest) []*rmpb.TokenBucketResponse {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*rmpb.TokenBucketResponse
	for _, r := range req.GetRequests() {
		g := s.groups[r.GetResourceGroupName()]
		if g == nil {
			continue
		}
		if c := r.GetConsumptionSinceLastRequest(); c != nil {
			addConsumption(&g.consumption, c)
		}
		if r.GetIsBackground() {
			continue
		}
		resp := &rmpb.TokenBucketResponse{ResourceGroupName: g.meta.Name, KeyspaceId: r.GetKeyspaceId()}
		for _, item := range r.GetRuItems().GetRequestRU() {
			if item.GetType() != rmpb.RequestUnitType_RU {
				continue
			}
			tb, trickleMs := g.request(now, item.GetValue(), req.GetTargetRequestPeriodMs())
			resp.GrantedRUTokens = append(resp.GrantedRUTokens, &rmpb.GrantedRUTokenBucket{
				Type: rmpb.RequestUnitType_RU, GrantedTokens: tb, TrickleTimeMs: trickleMs,
			})
		}
		out = append(out, resp)
	}
	return out
}

// addConsumption is ResourceGroup.UpdateRUConsumption.
func addConsumption(to, c *rmpb.Consumption) {
	to.RRU += c.RRU
	to.WRU += c.WRU
	to.ReadBytes += c.ReadBytes
	to.WriteBytes += c.WriteBytes
	to.TotalCpuTimeMs += c.TotalCpuTimeMs
	to.SqlLayerCpuTimeMs += c.SqlLayerCpuTimeMs
	to.KvReadRpcCount += c.KvReadRpcCount
	to.KvWriteRpcCount += c.KvWriteRpcCount
	to.ReadCrossAzTrafficBytes += c.ReadCrossAzTrafficBytes
	to.WriteCrossAzTrafficBytes += c.WriteCrossAzTrafficBytes
}

// request grants RU from the group's bucket (GroupTokenBucket.request with
// one slot). The granted bucket carries only the burst limit in its
// settings, as PD's does: the client derives its local fill rate from the
// grant and the trickle time.
func (g *rmGroup) request(now time.Time, required float64, targetPeriodMs uint64) (*rmpb.TokenBucket, int64) {
	settings := g.meta.GetRUSettings().GetRU().GetSettings()
	fillRate, burst := float64(settings.GetFillRate()), settings.GetBurstLimit()
	g.refill(now, &fillRate, burst)
	res := &rmpb.TokenBucket{Settings: &rmpb.TokenLimitSettings{BurstLimit: burst}}
	switch {
	case burst == rmUnlimitedBurst:
		// Unlimited: whatever is asked, at once.
		res.Tokens = required
		return res, 0
	case burst == -2:
		// Moderated: a limited bucket whose rate and burst are the fill
		// rate plus a fixed allowance (getFillRateAndBurstLimit).
		fillRate = math.Min(fillRate+rmModeratedBurstRate, rmUnlimitedRate)
		burst = int64(fillRate)
		res.Settings.BurstLimit = burst
	}
	if required <= 0 {
		return res, 0
	}
	if g.tokens >= required {
		g.tokens -= required
		res.Tokens = required
		return res, 0
	}
	period := time.Duration(targetPeriodMs) * time.Millisecond
	if burst == 0 {
		// Rate controlled (simplified): trickle at the fill rate for at
		// most one target period.
		granted := math.Min(required, fillRate*period.Seconds())
		res.Tokens = granted
		return res, time.Duration(granted / fillRate * float64(time.Second)).Milliseconds()
	}
	granted, trickle := g.lend(required, fillRate, burst, period)
	res.Tokens = granted
	return res, trickle.Milliseconds()
}

// refill is GroupTokenBucket.updateTokens for one slot: the bucket is
// initialised on first use (a zero fill rate becomes the default one and a
// limited bucket starts with the default initial tokens), then a limited
// bucket earns fillRate tokens a second up to its burst limit.
func (g *rmGroup) refill(now time.Time, fillRate *float64, burst int64) {
	if !g.initialized {
		if *fillRate == 0 {
			*fillRate = rmDefaultRefillRate
			g.meta.RUSettings.RU.Settings.FillRate = rmDefaultRefillRate
		}
		if burst > 0 && g.tokens < rmDefaultInitTokens {
			g.tokens = rmDefaultInitTokens
		}
		g.lastUpdate, g.initialized = now, true
		return
	}
	if burst <= 0 {
		return
	}
	if d := now.Sub(g.lastUpdate); d > 0 {
		g.tokens += *fillRate * d.Seconds()
	}
	g.tokens = math.Min(g.tokens, float64(burst))
	g.lastUpdate = now
}

// lend grants what a limited bucket cannot pay from its tokens
// (tokenSlot.assignSlotTokens): the stored tokens first, then a loan
// against future fill, delivered over a trickle time. The loan is paid in
// rounds: while the debt is under loanCoefficient*fillRate*period the
// tokens flow at loanCoefficient times the fill rate, then at one time
// less per round, so a client that keeps over-asking is slowed to the fill
// rate; and at least half a period's fill is granted, so a starving
// client still moves.
func (g *rmGroup) lend(required, fillRate float64, burst int64, period time.Duration) (float64, time.Duration) {
	var granted float64
	usedStored := false
	if g.tokens > 0 {
		granted, required, g.tokens = g.tokens, required-g.tokens, 0
		usedStored = true
	}
	k := rmLoanCoefficient
	if burst <= int64(fillRate) {
		// A bucket that cannot hold more than a second's fill needs no
		// smoothing.
		k = 1
	}
	sec := period.Seconds()
	bound := make([]float64, k)
	bound[0] = float64(k) * fillRate * sec
	for i := 1; i < k; i++ {
		bound[i] = bound[i-1] + float64(k-i)*fillRate*sec
	}
	trickle := 0.0
	for i := 0; i < k && required > 0 && trickle < sec; i++ {
		debt := -g.tokens
		if debt >= bound[i] {
			continue
		}
		room := bound[i] - debt
		rate := float64(k-i) * fillRate
		switch {
		case room > required:
			g.tokens -= required
			granted += required
			trickle += granted / rate
			required = 0
		case trickle+room/rate >= sec:
			n := (sec - trickle) * rate
			required -= n
			g.tokens -= n
			granted += n
			trickle = sec
		default:
			granted += room
			required -= room
			g.tokens -= room
			trickle += room / rate
		}
	}
	if reserve := rmDefaultReserveRatio * fillRate * sec; required > 0 && granted < reserve {
		n := math.Min(required+granted, reserve)
		g.tokens -= n - granted
		granted = n
	}
	if !usedStored {
		// Without stored tokens the grant always trickles over the whole
		// period, or the client would consume faster than the fill rate.
		return granted, period
	}
	return granted, time.Duration(math.Min(trickle, sec) * float64(time.Second))
}
