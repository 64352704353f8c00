package otelkv

import (
	"context"
	"time"

	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/pdclient"
)

// ObserveTSO wraps pd so that each timestamp fetched for an observed call
// (a transaction's commit timestamp, a lock's status check) is reported to
// the call's observer as an observe.PDCall named "GetTS", which this
// package turns into a span and a point. The region cache reports its own
// PD calls; the oracle, which asks only for timestamps, is given this
// wrapper by the cluster. Calls nobody watches pay one context lookup.
func ObserveTSO(pd pdclient.PD) pdclient.PD { return tsoPD{pd} }

type tsoPD struct{ pdclient.PD }

func (p tsoPD) GetTS(ctx context.Context) (physical, logical int64, err error) {
	if _, ok := observe.Observed(ctx); !ok {
		return p.PD.GetTS(ctx)
	}
	start := time.Now()
	physical, logical, err = p.PD.GetTS(ctx)
	observe.Emit(ctx, observe.Event{Kind: observe.PDCall, Method: "GetTS", Duration: time.Since(start), Err: err})
	return physical, logical, err
}
