package mocktikv

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/meta_storagepb"
	rmpb "github.com/pingcap/kvproto/pkg/resource_manager"
	pd "github.com/tikv/pd/client"
	pderrs "github.com/tikv/pd/client/errs"
	"github.com/tikv/pd/client/opt"
	"github.com/tikv/pd/client/resource_group/controller"
)

// The in-process PD serves what the resource-group controller needs.
var _ controller.ResourceGroupProvider = localPD{}

func rmTestGroup(name string, fillRate uint64, burst int64, priority uint32) *rmpb.ResourceGroup {
	return &rmpb.ResourceGroup{
		Name: name, Mode: rmpb.GroupMode_RUMode, Priority: priority,
		RUSettings: &rmpb.GroupRequestUnitSettings{RU: &rmpb.TokenBucket{
			Settings: &rmpb.TokenLimitSettings{FillRate: fillRate, BurstLimit: burst},
		}},
	}
}

// TestResourceManager runs the same checks against the real PD client
// over gRPC and the in-process PD.
func TestResourceManager(t *testing.T) {
	t.Run("grpc", func(t *testing.T) {
		c := Start(t)
		checkResourceManager(t, newPDClient(t, c))
	})
	t.Run("in-process", func(t *testing.T) {
		c := NewCluster()
		checkResourceManager(t, c.PD().(controller.ResourceGroupProvider))
	})
}

func checkResourceManager(t *testing.T, rm controller.ResourceGroupProvider) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// PD's reserved default group: unlimited, middle priority.
	groups := must(rm.ListResourceGroups(ctx))(t)
	if len(groups) != 1 || groups[0].Name != "default" || groups[0].Priority != 8 ||
		groups[0].GetRUSettings().GetRU().GetSettings().GetBurstLimit() != -1 {
		t.Fatalf("groups of a new cluster = %v, want the unlimited default group", groups)
	}

	// An unknown group fails as the controller expects to recognise it.
	_, err := rm.GetResourceGroup(ctx, "nope")
	var getErr *pderrs.ErrClientGetResourceGroup
	if !errors.As(err, &getErr) || !strings.Contains(err.Error(), "resource group does not exist") {
		t.Fatalf("GetResourceGroup(nope) = %v, want ErrClientGetResourceGroup saying it does not exist", err)
	}

	// CRUD.
	_ = must(rm.AddResourceGroup(ctx, rmTestGroup("g", 10, 10, 4)))(t)
	got := must(rm.GetResourceGroup(ctx, "g"))(t)
	if got.Priority != 4 || got.GetRUSettings().GetRU().GetSettings().GetFillRate() != 10 {
		t.Fatalf("added group reads back as %v", got)
	}
	if _, err := rm.AddResourceGroup(ctx, rmTestGroup("bad", 10, 10, 17)); err == nil {
		t.Fatal("a group of priority 17 was accepted (PD allows 0..16)")
	}
	_ = must(rm.ModifyResourceGroup(ctx, rmTestGroup("g", 10, 10, 16)))(t)
	eq(t, must(rm.GetResourceGroup(ctx, "g"))(t).Priority, uint32(16), "priority after modify")
	if _, err := rm.ModifyResourceGroup(ctx, rmTestGroup("nope", 1, 1, 1)); err == nil {
		t.Fatal("modifying an unknown group succeeded")
	}
	if _, err := rm.DeleteResourceGroup(ctx, "default"); err == nil || !strings.Contains(err.Error(), "cannot delete reserved group") {
		t.Fatalf("deleting the default group = %v, want ErrDeleteReservedGroup", err)
	}

	// The settings live in the meta storage, next to the controller's
	// configuration, which is PD's default.
	loaded, rev := must2(rm.LoadResourceGroups(ctx))(t)
	if len(loaded) != 2 || rev <= 0 {
		t.Fatalf("LoadResourceGroups = %v at revision %d, want default and g", loaded, rev)
	}
	cfgResp := must(rm.Get(ctx, []byte("resource_group/controller")))(t)
	cfg := controller.DefaultConfig()
	if len(cfgResp.Kvs) != 1 || json.Unmarshal(cfgResp.Kvs[0].Value, cfg) != nil || cfg.LTBMaxWaitDuration.Duration != 30*time.Second ||
		cfg.RequestUnit != controller.DefaultRequestUnitConfig() {
		t.Fatalf("controller config = %v (%+v), want PD's defaults", cfgResp.Kvs, cfg)
	}

	// Changes reach a watch of the settings.
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	events := must(rm.Watch(wctx, pd.GroupSettingsPathPrefixBytes(0xFFFFFFFF), opt.WithPrefix(), opt.WithPrevKV()))(t)
	var ev *meta_storagepb.Event
	// The gRPC watch opens its stream in the background: repeat the
	// change until the watch reports it.
	for deadline := time.Now().Add(5 * time.Second); ev == nil; {
		_ = must(rm.ModifyResourceGroup(ctx, rmTestGroup("g", 20, 20, 16)))(t)
		select {
		case r := <-events:
			ev = r.Events[0]
		case <-time.After(20 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("no watch event in 5s")
			}
		}
	}
	var changed rmpb.ResourceGroup
	noErr(t, changed.Unmarshal(ev.Kv.Value))
	if ev.Type != meta_storagepb.Event_PUT || changed.GetRUSettings().GetRU().GetSettings().GetFillRate() != 20 {
		t.Fatalf("watch event %v, want a PUT of g at fill rate 20", ev)
	}
	_ = must(rm.DeleteResourceGroup(ctx, "g"))(t)
	for ev = nil; ev == nil || ev.Type != meta_storagepb.Event_DELETE; {
		select {
		case r := <-events:
			ev = r.Events[0]
		case <-ctx.Done():
			t.Fatal("no DELETE event")
		}
	}
	var deleted rmpb.ResourceGroup
	noErr(t, deleted.Unmarshal(ev.PrevKv.GetValue()))
	eq(t, deleted.Name, "g", "deleted group (prev kv)")

	// Tokens: the default group grants whatever is asked; consumption is
	// added to the group's RU stats; unknown groups get no answer.
	resps := must(rm.AcquireTokenBuckets(ctx, &rmpb.TokenBucketsRequest{
		TargetRequestPeriodMs: 5000, ClientUniqueId: 1,
		Requests: []*rmpb.TokenBucketRequest{
			ruRequest("default", 12345, &rmpb.Consumption{RRU: 1.5, WRU: 2.5}),
			ruRequest("gone", 1, nil),
		},
	}))(t)
	if len(resps) != 1 || resps[0].ResourceGroupName != "default" {
		t.Fatalf("token responses = %v, want one for default", resps)
	}
	grant := resps[0].GrantedRUTokens[0]
	if grant.GetGrantedTokens().GetTokens() != 12345 || grant.TrickleTimeMs != 0 || grant.GetGrantedTokens().GetSettings().GetBurstLimit() != -1 {
		t.Fatalf("default group grant = %v, want 12345 at once, unlimited", grant)
	}
	stats := must(rm.GetResourceGroup(ctx, "default", pd.WithRUStats))(t).GetRUStats()
	if stats.GetRRU() != 1.5 || stats.GetWRU() != 2.5 {
		t.Fatalf("default group stats = %v, want the reported RRU 1.5, WRU 2.5", stats)
	}
	if s := must(rm.GetResourceGroup(ctx, "default"))(t).GetRUStats(); s != nil {
		t.Fatalf("stats without WithRUStats: %v", s)
	}
}

func ruRequest(group string, ru float64, consumed *rmpb.Consumption) *rmpb.TokenBucketRequest {
	return &rmpb.TokenBucketRequest{
		ResourceGroupName:           group,
		ConsumptionSinceLastRequest: consumed,
		Request: &rmpb.TokenBucketRequest_RuItems{RuItems: &rmpb.TokenBucketRequest_RequestRU{
			RequestRU: []*rmpb.RequestUnitItem{{Type: rmpb.RequestUnitType_RU, Value: ru}},
		}},
	}
}

// TestResourceManagerTokenGrants walks a limited group's bucket through
// PD's grant rules (token_buckets.go) at chosen instants.
func TestResourceManagerTokenGrants(t *testing.T) {
	s := newRMState()
	noErr(t, s.add(rmTestGroup("g", 100, 100, 8)))
	t0 := time.Unix(1000, 0)
	ask := func(at time.Duration, ru float64) (float64, int64) {
		resps := s.acquire(t0.Add(at), &rmpb.TokenBucketsRequest{TargetRequestPeriodMs: 5000, Requests: []*rmpb.TokenBucketRequest{ruRequest("g", ru, nil)}})
		g := resps[0].GrantedRUTokens[0]
		eq(t, g.GetGrantedTokens().GetSettings().GetBurstLimit(), int64(100), "burst limit in the grant")
		return g.GetGrantedTokens().GetTokens(), g.TrickleTimeMs
	}
	for _, step := range []struct {
		what          string
		at            time.Duration
		ask, want     float64
		wantTrickleMs int64
	}{
		// The first request initialises the bucket (with PD's 100000
		// initial tokens) and asks nothing.
		{"init", 0, 0, 0, 0},
		// A second later the bucket is capped at its burst: 100 tokens.
		{"from stored tokens", time.Second, 50, 50, 0},
		// 50 stored, 200 lent at the fill rate (the burst is not above
		// the fill rate, so one loan round): 2.5s of trickle.
		{"stored then lent", time.Second, 250, 250, 2500},
		// In debt (200): lend up to the round's bound of 500, which
		// trickles for 3s; without stored tokens the grant spans the
		// whole period.
		{"lent to the bound", time.Second, 1000, 300, 5000},
		// Beyond the bound only the reserve (half a period's fill) is
		// lent, capped by the request.
		{"reserve", time.Second, 10, 10, 5000},
	} {
		got, trickle := ask(step.at, step.ask)
		if got != step.want || trickle != step.wantTrickleMs {
			t.Fatalf("%s: granted %v over %dms, want %v over %dms", step.what, got, trickle, step.want, step.wantTrickleMs)
		}
	}
	// The fill rate repays the debt: 6s later the 510 owed have become
	// 90 stored tokens, and the 10 more asked are lent for 1s.
	if got, trickle := ask(7*time.Second, 100); got != 100 || trickle != 1000 {
		t.Fatalf("after repaying the debt: granted %v over %dms, want 100 over 1000ms", got, trickle)
	}
}
