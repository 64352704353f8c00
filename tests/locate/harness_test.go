package locate_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/tikv/pd/client/clients/router"
	"github.com/tikv/pd/client/opt"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/pipeline/backoff"
	"github.com/tikvgo/tikv/transport"
)

// The methods the access-path tests drive through pipeline.Retry: a
// transactional point read (replica-read eligible) and a prewrite (always
// the leader), the two request kinds client-go's replica selector tests use.
var (
	getMethod = pipeline.Method[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse]{
		Cmd: transport.CmdGet, Read: true, Idempotent: true,
	}
	prewriteMethod = pipeline.Method[*kvrpcpb.PrewriteRequest, *kvrpcpb.PrewriteResponse]{
		Cmd: transport.CmdPrewrite, Idempotent: true,
	}
	rawGetMethod = pipeline.Method[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse]{
		Cmd: transport.CmdRawGet, Read: true, Idempotent: true,
	}
)

// countingPD wraps mocktikv's in-process PD and counts region lookups, so a
// test can tell whether the region cache answered from memory (the region
// was still valid) or had to ask PD.
type countingPD struct {
	pdclient.PD
	regionLoads atomic.Int64
	storeLoads  atomic.Int64
	scans       atomic.Int64
	// leaderOnly counts GetRegion and GetStore calls that asked for PD's
	// leader only, as the cache's retries do.
	leaderOnly atomic.Int64
}

func (p *countingPD) GetRegion(ctx context.Context, key []byte, opts ...opt.GetRegionOption) (*router.Region, error) {
	p.regionLoads.Add(1)
	if len(opts) > 1 {
		// The cache's retries add WithAllowPDLeaderOnly to WithBuckets.
		p.leaderOnly.Add(1)
	}
	return p.PD.GetRegion(ctx, key, opts...)
}

func (p *countingPD) GetPrevRegion(ctx context.Context, key []byte, opts ...opt.GetRegionOption) (*router.Region, error) {
	p.regionLoads.Add(1)
	return p.PD.GetPrevRegion(ctx, key, opts...)
}

func (p *countingPD) GetRegionByID(ctx context.Context, id uint64, opts ...opt.GetRegionOption) (*router.Region, error) {
	p.regionLoads.Add(1)
	return p.PD.GetRegionByID(ctx, id, opts...)
}

func (p *countingPD) BatchScanRegions(ctx context.Context, ranges []router.KeyRange, limit int, opts ...opt.GetRegionOption) ([]*router.Region, error) {
	p.scans.Add(1)
	return p.PD.BatchScanRegions(ctx, ranges, limit, opts...)
}

func (p *countingPD) GetStore(ctx context.Context, id uint64, opts ...opt.GetStoreOption) (*metapb.Store, error) {
	p.storeLoads.Add(1)
	if len(opts) > 0 {
		// The cache's retries add WithPDLeaderHandleStoreRequestOnly.
		p.leaderOnly.Add(1)
	}
	return p.PD.GetStore(ctx, id, opts...)
}

// liveness is the harness's Prober: a store is unreachable while the test
// says it is down (stopped, partitioned, or it just timed out).
type liveness struct {
	mu     sync.Mutex
	down   map[string]bool // by address
	probes map[string]int
}

func (l *liveness) probe(_ context.Context, addr string) pdclient.Liveness {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.probes[addr]++
	if l.down[addr] {
		return pdclient.Unreachable
	}
	return pdclient.Reachable
}

func (l *liveness) set(addr string, down bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down[addr] = down
}

func (l *liveness) probed(addr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.probes[addr]
}

// attempt is one physical attempt as the client-wide middleware saw it.
type attempt struct {
	store       uint64
	peer        uint64
	region      uint64
	replicaRead bool
	staleRead   bool
	retry       bool
	busyMs      uint32
	maxExecMs   uint64
	regionErr   string // kind of the region error answered, "" for none
	err         error
	proxy       uint64 // the store that forwarded the attempt, 0 for none
	forwarded   string // Target.ForwardedHost
}

// String is "store:flags", flags r (replica_read) and s (stale_read), the
// notation of every expected access path in this package.
func (a attempt) String() string {
	f := ""
	if a.replicaRead {
		f += "r"
	}
	if a.staleRead {
		f += "s"
	}
	if a.proxy != 0 {
		// Forwarded by a follower (pipeline.Forwarding).
		return fmt.Sprintf("%d:%s via %d", a.store, f, a.proxy)
	}
	return fmt.Sprintf("%d:%s", a.store, f)
}

// recorder is a client-wide middleware recording every attempt.
type recorder struct {
	mu       sync.Mutex
	attempts []attempt
}

func (r *recorder) middleware(next transport.Sender) transport.Sender {
	return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
		a := attempt{store: req.Target.StoreID, region: req.Target.RegionID,
			proxy: req.Target.ProxyStoreID, forwarded: req.Target.ForwardedHost}
		if req.Cmd.HasContext() {
			rc := req.Cmd.Context(req.Msg)
			a.peer = rc.GetPeer().GetId()
			a.replicaRead, a.staleRead, a.retry = rc.GetReplicaRead(), rc.GetStaleRead(), rc.GetIsRetryRequest()
			a.busyMs, a.maxExecMs = rc.GetBusyThresholdMs(), rc.GetMaxExecutionDurationMs()
		}
		resp, err := next.Send(ctx, req)
		a.err = err
		if err == nil {
			if m, ok := resp.Msg.(interface{ GetRegionError() *errorpb.Error }); ok && m.GetRegionError() != nil {
				a.regionErr = kv.RegionErrorKind(m.GetRegionError())
			}
		}
		r.mu.Lock()
		r.attempts = append(r.attempts, a)
		r.mu.Unlock()
		return resp, err
	})
}

// take returns the attempts recorded since the last take.
func (r *recorder) take() []attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.attempts
	r.attempts = nil
	return out
}

func paths(as []attempt) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

// harness is one mocktikv cluster and one tikvgo client connected to it
// in-process.
type harness struct {
	t       testing.TB
	mock    *mocktikv.Cluster
	pd      *countingPD
	cluster *tikv.Cluster
	mode    kv.KeyMode
	cache   *pdclient.RegionCache
	env     *pipeline.Env
	live    *liveness
	rec     *recorder
}

type harnessConfig struct {
	stores      int
	labels      map[uint64]map[string]string
	idLabels    bool // label every store id=<store id>, as client-go's suites do
	mockOpts    []mocktikv.Option
	readTimeout time.Duration
	budget      time.Duration
	mode        kv.KeyMode
}

type harnessOption func(*harnessConfig)

func withStores(n int) harnessOption { return func(c *harnessConfig) { c.stores = n } }
func withIDLabels() harnessOption    { return func(c *harnessConfig) { c.idLabels = true } }
func withMock(o ...mocktikv.Option) harnessOption {
	return func(c *harnessConfig) { c.mockOpts = append(c.mockOpts, o...) }
}
func withReadTimeout(d time.Duration) harnessOption {
	return func(c *harnessConfig) { c.readTimeout = d }
}
func withBudget(d time.Duration) harnessOption { return func(c *harnessConfig) { c.budget = d } }
func withRaw() harnessOption                   { return func(c *harnessConfig) { c.mode = kv.ModeRaw } }
func withLabels(id uint64, l map[string]string) harnessOption {
	return func(c *harnessConfig) {
		if c.labels == nil {
			c.labels = map[uint64]map[string]string{}
		}
		c.labels[id] = l
	}
}

// newHarness builds the cluster (one region led by store 1 unless the mock
// options split it) and connects a client to it through the in-process PD
// and Sender, with a recording middleware and the test's prober. Everything
// is closed by t.Cleanup.
func newHarness(t testing.TB, opts ...harnessOption) *harness {
	t.Helper()
	cfg := harnessConfig{stores: 3, mode: kv.ModeTxn}
	for _, o := range opts {
		o(&cfg)
	}
	mock := mocktikv.NewCluster(append([]mocktikv.Option{mocktikv.WithStores(cfg.stores)}, cfg.mockOpts...)...)
	for _, id := range mock.StoreIDs() {
		l := cfg.labels[id]
		if l == nil && cfg.idLabels {
			l = map[string]string{"id": strconv.FormatUint(id, 10)}
		}
		if l != nil {
			if err := mock.SetStoreLabels(id, l); err != nil {
				t.Fatal(err)
			}
		}
	}
	h := &harness{
		t:    t,
		mock: mock,
		pd:   &countingPD{PD: mock.PD()},
		mode: cfg.mode,
		live: &liveness{down: map[string]bool{}, probes: map[string]int{}},
		rec:  &recorder{},
	}
	cluster, err := tikv.Connect(context.Background(), nil,
		tikv.WithPD(h.pd),
		tikv.WithTransport(mock.Sender()),
		tikv.WithProber(h.live.probe),
		tikv.WithMiddleware(h.rec.middleware),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cluster.Close()
		mock.Close()
	})
	h.cluster = cluster
	base := cluster.EnvFor(cfg.mode)
	h.cache = cluster.RegionCacheFor(cfg.mode)
	h.env = &pipeline.Env{
		Locator:       base.Locator,
		Sender:        base.Sender,
		ReadTimeout:   cfg.readTimeout,
		BackoffBudget: cfg.budget,
	}
	// Resolve every store up front, as client-go's cache has them once a
	// region is loaded: label matching only sees resolved stores.
	for _, id := range mock.StoreIDs() {
		if _, err := h.cache.Store(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	h.pd.storeLoads.Store(0)
	return h
}

// region locates the region of key through the cache.
func (h *harness) region(key string) *pdclient.Region {
	h.t.Helper()
	r, err := h.cache.Locate(context.Background(), []byte(key))
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// cached reports whether the cache still holds a valid region for key:
// locating it again does not ask PD.
func (h *harness) cached(key string) bool {
	h.t.Helper()
	before := h.pd.regionLoads.Load()
	h.region(key)
	return h.pd.regionLoads.Load() == before
}

// peer returns the region's peer on a store.
func (h *harness) peer(key string, store uint64) *metapb.Peer {
	meta, _ := h.mock.RegionByKey(h.encode(key))
	for _, p := range meta.GetPeers() {
		if p.GetStoreId() == store {
			return p
		}
	}
	h.t.Fatalf("no peer of the region of %q on store %d", key, store)
	return nil
}

// encode returns key as stored by TiKV in the harness's key mode (the
// region cache decodes region boundaries; mocktikv works on stored keys).
func (h *harness) encode(key string) []byte {
	if h.mode == kv.ModeRaw {
		return []byte(key)
	}
	return encodeBytes([]byte(key))
}

// encodeBytes is the memcomparable encoding of transactional keys (groups
// of 8 bytes, each followed by a marker byte).
func encodeBytes(b []byte) []byte {
	out := make([]byte, 0, (len(b)/8+1)*9)
	for i := 0; i <= len(b); i += 8 {
		rem := len(b) - i
		var group [8]byte
		pad := 0
		if rem >= 8 {
			copy(group[:], b[i:i+8])
		} else {
			copy(group[:], b[i:])
			pad = 8 - rem
		}
		out = append(out, group[:]...)
		out = append(out, byte(0xFF-pad))
	}
	return out
}

func (h *harness) regionID(key string) uint64 {
	meta, _ := h.mock.RegionByKey(h.encode(key))
	return meta.GetId()
}

// transferLeader moves the leader of key's region to store and reloads the
// cache's copy, as client-go's changeRegionLeader does.
func (h *harness) transferLeader(key string, store uint64) {
	h.t.Helper()
	if err := h.mock.TransferLeader(h.regionID(key), store); err != nil {
		h.t.Fatal(err)
	}
	h.cache.Invalidate(h.region(key))
	h.region(key)
}

// stop stops a store and makes the prober report it unreachable.
func (h *harness) stop(id uint64) {
	h.t.Helper()
	if err := h.mock.StopStore(id); err != nil {
		h.t.Fatal(err)
	}
	h.live.set(h.mock.StoreAddr(id), true)
}

// start restarts a store and makes the prober report it reachable.
func (h *harness) start(id uint64) {
	h.t.Helper()
	if err := h.mock.StartStore(id); err != nil {
		h.t.Fatal(err)
	}
	h.live.set(h.mock.StoreAddr(id), false)
}

// markDownOnDeadline makes a store the prober reports unreachable once a
// request to it failed with a deadline error (client-go's access-path
// tests inject unreachable liveness when they answer DeadlineExceeded).
func (h *harness) markDownOnDeadline() {
	h.mock.OnResponse(func(store uint64, _ transport.Cmd, _, _ transport.Message, err error) {
		if errors.Is(err, context.DeadlineExceeded) {
			h.live.set(h.mock.StoreAddr(store), true)
		}
	})
}

// get dispatches a transactional point read of key to its region.
func (h *harness) get(ctx context.Context, key string) (*kvrpcpb.GetResponse, error) {
	return pipeline.Retry(h.env, getMethod)(ctx, h.region(key), &kvrpcpb.GetRequest{Key: []byte(key), Version: 1})
}

// prewrite dispatches a one-key prewrite of key to its region.
func (h *harness) prewrite(ctx context.Context, key string) (*kvrpcpb.PrewriteResponse, error) {
	return pipeline.Retry(h.env, prewriteMethod)(ctx, h.region(key), &kvrpcpb.PrewriteRequest{
		Mutations:    []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte(key), Value: []byte("v")}},
		PrimaryLock:  []byte(key),
		StartVersion: 10,
		LockTtl:      3000,
	})
}

// policies by name, to turn an expected list of backoffs into the virtual
// time they take.
var policies = map[string]backoff.Policy{}

func init() {
	for _, p := range []backoff.Policy{
		backoff.TiKVRPC, backoff.PDRPC, backoff.RegionMiss, backoff.RegionScheduling, backoff.ServerBusy,
		backoff.DiskFull, backoff.RegionRecoveryInProgress, backoff.IsWitness, backoff.StaleCmd,
		backoff.MaxTSNotSynced, backoff.RegionNotInitialized,
	} {
		policies[p.Name] = p
	}
}

// backoffRange returns the least and the most virtual time the waits in
// names take (the n-th wait of a policy lasts Delay(n); equal jitter is
// between half and all of it).
func backoffRange(names []string) (lo, hi time.Duration) {
	seen := map[string]int{}
	for _, n := range names {
		p, ok := policies[n]
		if !ok {
			panic("unknown backoff policy " + n)
		}
		k := seen[n]
		seen[n]++
		full := p.Delay(k, 0, func() float64 { return 0.999999 })
		switch p.Jitter {
		case backoff.EqualJitter:
			lo += p.Delay(k, 0, func() float64 { return 0 })
			hi += full + time.Millisecond
		case backoff.FullJitter:
			hi += full + time.Millisecond
		default:
			lo += full
			hi += full
		}
	}
	return lo, hi
}

// errKind classifies a Retry outcome:
//
//	""                 success
//	"noReplica"        the non-fatal region error without a TiKV error: no replica was left (client-go's fake EpochNotMatch)
//	"region:<Kind>"    a non-fatal region error handed back for re-routing
//	"fatal:<Kind>"     a fatal region error
//	"exhausted:<pol>"  a *kv.BackoffExhaustedError naming the policy
//	"undetermined"     kv.ErrUndetermined
//	"error"            anything else
func errKind(err error) string {
	if err == nil {
		return ""
	}
	if errors.Is(err, kv.ErrUndetermined) {
		return "undetermined"
	}
	var be *kv.BackoffExhaustedError
	if errors.As(err, &be) {
		return "exhausted:" + be.Policy
	}
	var re *kv.RegionError
	if errors.As(err, &re) {
		if re.Err == nil {
			return "noReplica"
		}
		kind := kv.RegionErrorKind(re.Err)
		if re.Fatal {
			return "fatal:" + kind
		}
		return "region:" + kind
	}
	return "error"
}

// matchPath reports whether got matches the pattern want. A pattern step is
// "<store>:<flags>", where <store> is a store id or a variable (x, y, z): a
// variable stands for the same store wherever it appears, distinct variables
// for distinct stores, and no variable for a store named literally in the
// pattern. Used where tikvgo breaks ties in replica scoring at random.
func matchPath(want, got []string) bool {
	if len(want) != len(got) {
		return false
	}
	literal := map[string]bool{}
	for _, w := range want {
		s, _, _ := strings.Cut(w, ":")
		if _, err := strconv.Atoi(s); err == nil {
			literal[s] = true
		}
	}
	bind := map[string]string{}
	for i := range want {
		ws, wf, _ := strings.Cut(want[i], ":")
		gs, gf, _ := strings.Cut(got[i], ":")
		if wf != gf {
			return false
		}
		if _, err := strconv.Atoi(ws); err == nil {
			if ws != gs {
				return false
			}
			continue
		}
		if b, ok := bind[ws]; ok {
			if b != gs {
				return false
			}
			continue
		}
		if literal[gs] {
			return false
		}
		for _, v := range bind {
			if v == gs {
				return false
			}
		}
		bind[ws] = gs
	}
	return true
}

// matchAny reports whether got matches one of the patterns.
func matchAny(want [][]string, got []string) bool {
	return slices.ContainsFunc(want, func(w []string) bool { return matchPath(w, got) })
}

// Region errors as client-go's access-path tests script them.
func notLeader(leader *metapb.Peer) *errorpb.Error {
	return &errorpb.Error{Message: "not leader", NotLeader: &errorpb.NotLeader{Leader: leader}}
}

var (
	errServerIsBusy     = &errorpb.Error{Message: "server is busy", ServerIsBusy: &errorpb.ServerIsBusy{}}
	errServerIsBusyWait = &errorpb.Error{Message: "server is busy", ServerIsBusy: &errorpb.ServerIsBusy{EstimatedWaitMs: 10}}
	errDataIsNotReady   = &errorpb.Error{Message: "data is not ready", DataIsNotReady: &errorpb.DataIsNotReady{}}
)
