package mocktikv

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/transport"
)

// The control API drives a served mock from outside its process, for
// clients other than tikvgo and for chaos runs that are not Go tests: it
// exposes part of the Cluster's control methods as HTTP endpoints on PD's
// address, under /mocktikv/v1/ (real PD has no such prefix, so nothing a
// PD client asks for changes). Bodies are JSON; an error is a JSON string
// with 400 (bad input) or 404 (no such store, region or fault). Keys are
// hex-encoded raw bytes as the store sees them.
//
//	GET    /mocktikv/v1/regions                      regions: id, hex start/end, leader store, peer stores
//	POST   /mocktikv/v1/split?key=HEX                 Split at a raw key        -> {"region_id": new}
//	                                                  (the new region is the left part, as TiKV splits)
//	POST   /mocktikv/v1/split?txn_key=HEX             SplitTxn at a user key    -> {"region_id": new}
//	POST   /mocktikv/v1/regions/{id}/leader?store=N   TransferLeader
//	POST   /mocktikv/v1/regions/{id}/merge?into=M     Merge region id into M
//	POST   /mocktikv/v1/stores/{id}/stop|start        StopStore / StartStore
//	POST   /mocktikv/v1/stores/{id}/partition|heal    PartitionClient / HealClient
//	POST   /mocktikv/v1/tso/pause|resume              PauseTSO / ResumeTSO
//	POST   /mocktikv/v1/faults                        Inject (body: controlFault) -> {"id": n}
//	GET    /mocktikv/v1/faults/{id}                   {"id": n, "hits": h}
//	DELETE /mocktikv/v1/faults/{id}                   remove one fault
//	DELETE /mocktikv/v1/faults                        remove every fault injected here

// WithControlAPI serves the control API (see control_http.go) on PD's
// address once the cluster serves. cmd/mocktikv turns it on.
func WithControlAPI() Option {
	return func(c *config) { c.controlAPI = true }
}

// controlFault is the JSON form of a Fault: which requests it matches
// and its steps. Cmd is a command's name as transport names it (RawPut,
// KvPrewrite, ...).
type controlFault struct {
	Cmd    string        `json:"cmd"`
	Store  uint64        `json:"store"`
	Region uint64        `json:"region"`
	KeyHex string        `json:"key"`
	Steps  []controlStep `json:"steps"`
}

// controlStep is one step of a controlFault: exactly one action, applied
// to the next Times matching requests (0: every remaining one).
type controlStep struct {
	Times int `json:"times"`
	// Pass lets the request through untouched.
	Pass bool `json:"pass,omitempty"`
	// DelayMS holds the request that long, then serves it.
	DelayMS int64 `json:"delay_ms,omitempty"`
	// RegionError answers with this region error (errorpb.Error in its
	// JSON field names, e.g. {"server_is_busy": {"reason": "x"}}).
	RegionError *errorpb.Error `json:"region_error,omitempty"`
	// KeyError answers with this key error (kvrpcpb.KeyError).
	KeyError *kvrpcpb.KeyError `json:"key_error,omitempty"`
	// Fail fails the call with this gRPC status; the request is not applied.
	Fail *controlStatus `json:"fail,omitempty"`
	// LoseResponse applies the request, then fails the call with this
	// status: the client cannot tell whether it was applied.
	LoseResponse *controlStatus `json:"lose_response,omitempty"`
}

// controlStatus is a gRPC status: Code is its name (Unavailable,
// DeadlineExceeded, ...).
type controlStatus struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// grpcCodes maps a status code's name to the code.
var grpcCodes = func() map[string]codes.Code {
	m := make(map[string]codes.Code)
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		m[c.String()] = c
	}
	return m
}()

func (s *controlStatus) err() (error, error) {
	code, ok := grpcCodes[s.Code]
	if !ok || code == codes.OK {
		return nil, fmt.Errorf("unknown or OK status code %q", s.Code)
	}
	return status.Error(code, s.Message), nil
}

// action is the Action of one step, or why the step is invalid.
func (s controlStep) action() (Action, error) {
	var acts []Action
	if s.Pass {
		acts = append(acts, Pass())
	}
	if s.DelayMS > 0 {
		acts = append(acts, Delay(time.Duration(s.DelayMS)*time.Millisecond))
	}
	if s.RegionError != nil {
		acts = append(acts, RegionError(s.RegionError))
	}
	if s.KeyError != nil {
		acts = append(acts, KeyError(s.KeyError))
	}
	for _, st := range []struct {
		s    *controlStatus
		make func(error) Action
	}{{s.Fail, Fail}, {s.LoseResponse, LoseResponse}} {
		if st.s == nil {
			continue
		}
		err, bad := st.s.err()
		if bad != nil {
			return Action{}, bad
		}
		acts = append(acts, st.make(err))
	}
	if len(acts) != 1 {
		return Action{}, fmt.Errorf("a step needs exactly one action (pass, delay_ms, region_error, key_error, fail, lose_response), got %d", len(acts))
	}
	return acts[0], nil
}

// fault turns f into a Fault, or says what is wrong with it.
func (f *controlFault) fault() (Fault, error) {
	var out Fault
	if f.Cmd != "" {
		cmd, ok := transport.CmdByName(f.Cmd)
		if !ok {
			return Fault{}, fmt.Errorf("unknown command %q", f.Cmd)
		}
		out.Cmd = cmd
	}
	if f.KeyHex != "" {
		k, err := hex.DecodeString(f.KeyHex)
		if err != nil {
			return Fault{}, fmt.Errorf("key: %w", err)
		}
		out.Key = k
	}
	out.Store, out.Region = f.Store, f.Region
	if len(f.Steps) == 0 {
		return Fault{}, errors.New("a fault needs at least one step")
	}
	for i, s := range f.Steps {
		a, err := s.action()
		if err != nil {
			return Fault{}, fmt.Errorf("step %d: %w", i, err)
		}
		step := Always(a)
		if s.Times > 0 {
			step = Times(s.Times, a)
		}
		out.Steps = append(out.Steps, step)
	}
	return out, nil
}

// controlFaults holds the faults injected through the API, by id.
type controlFaults struct {
	mu   sync.Mutex
	next uint64
	byID map[uint64]*FaultHandle
}

// controlRegion is a region as GET /mocktikv/v1/regions lists it.
type controlRegion struct {
	ID          uint64   `json:"id"`
	StartKey    string   `json:"start_key"`
	EndKey      string   `json:"end_key"`
	LeaderStore uint64   `json:"leader_store"`
	PeerStores  []uint64 `json:"peer_stores"`
}

// mountControl adds the control API's endpoints to mux.
func (c *Cluster) mountControl(mux *http.ServeMux) {
	faults := &controlFaults{byID: make(map[uint64]*FaultHandle)}
	// do answers {} for a control call that succeeded, 404 for an unknown
	// store or region, 400 for anything else it refused.
	do := func(w http.ResponseWriter, err error) {
		switch {
		case err == nil:
			writeJSON(w, http.StatusOK, struct{}{})
		case errors.Is(err, errControlNotFound):
			writeJSON(w, http.StatusNotFound, err.Error())
		default:
			writeJSON(w, http.StatusBadRequest, err.Error())
		}
	}
	id := func(r *http.Request, name string) (uint64, error) {
		v, err := strconv.ParseUint(r.PathValue(name), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		return v, nil
	}
	query := func(r *http.Request, name string) (uint64, error) {
		v, err := strconv.ParseUint(r.URL.Query().Get(name), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("query %s: %w", name, err)
		}
		return v, nil
	}
	mux.HandleFunc("GET /mocktikv/v1/regions", func(w http.ResponseWriter, _ *http.Request) {
		var out []controlRegion
		for _, r := range c.Regions() {
			_, leader := c.RegionByID(r.GetId())
			cr := controlRegion{ID: r.GetId(), StartKey: hex.EncodeToString(r.GetStartKey()), EndKey: hex.EncodeToString(r.GetEndKey()),
				LeaderStore: leader.GetStoreId()}
			for _, p := range r.GetPeers() {
				cr.PeerStores = append(cr.PeerStores, p.GetStoreId())
			}
			out = append(out, cr)
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /mocktikv/v1/split", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		split, arg := c.Split, q.Get("key")
		if q.Has("txn_key") {
			split, arg = c.SplitTxn, q.Get("txn_key")
		}
		key, err := hex.DecodeString(arg)
		if err == nil && len(key) == 0 {
			err = errors.New("split needs a non-empty key or txn_key (hex)")
		}
		if err != nil {
			do(w, err)
			return
		}
		newID, err := split(key)
		if err != nil {
			do(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]uint64{"region_id": newID})
	})
	regionCall := func(param string, call func(region, arg uint64) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			region, err := id(r, "id")
			if err != nil {
				do(w, err)
				return
			}
			if rs, _ := c.RegionByID(region); rs == nil {
				do(w, fmt.Errorf("region %d: %w", region, errControlNotFound))
				return
			}
			arg, err := query(r, param)
			if err != nil {
				do(w, err)
				return
			}
			do(w, call(region, arg))
		}
	}
	mux.HandleFunc("POST /mocktikv/v1/regions/{id}/leader", regionCall("store", c.TransferLeader))
	mux.HandleFunc("POST /mocktikv/v1/regions/{id}/merge", regionCall("into", c.Merge))
	storeCall := func(call func(uint64) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			store, err := id(r, "id")
			if err != nil {
				do(w, err)
				return
			}
			if c.StoreAddr(store) == "" {
				do(w, fmt.Errorf("store %d: %w", store, errControlNotFound))
				return
			}
			do(w, call(store))
		}
	}
	mux.HandleFunc("POST /mocktikv/v1/stores/{id}/stop", storeCall(c.StopStore))
	mux.HandleFunc("POST /mocktikv/v1/stores/{id}/start", storeCall(c.StartStore))
	mux.HandleFunc("POST /mocktikv/v1/stores/{id}/partition", storeCall(c.PartitionClient))
	mux.HandleFunc("POST /mocktikv/v1/stores/{id}/heal", storeCall(c.HealClient))
	mux.HandleFunc("POST /mocktikv/v1/tso/pause", func(w http.ResponseWriter, _ *http.Request) { c.PauseTSO(); do(w, nil) })
	mux.HandleFunc("POST /mocktikv/v1/tso/resume", func(w http.ResponseWriter, _ *http.Request) { c.ResumeTSO(); do(w, nil) })
	mux.HandleFunc("POST /mocktikv/v1/faults", func(w http.ResponseWriter, r *http.Request) {
		var cf controlFault
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cf); err != nil {
			do(w, fmt.Errorf("fault body: %w", err))
			return
		}
		f, err := cf.fault()
		if err != nil {
			do(w, err)
			return
		}
		faults.mu.Lock()
		faults.next++
		n := faults.next
		faults.byID[n] = c.Inject(f)
		faults.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]uint64{"id": n})
	})
	lookup := func(w http.ResponseWriter, r *http.Request) (uint64, *FaultHandle, bool) {
		n, err := id(r, "id")
		if err != nil {
			do(w, err)
			return 0, nil, false
		}
		faults.mu.Lock()
		h := faults.byID[n]
		faults.mu.Unlock()
		if h == nil {
			do(w, fmt.Errorf("fault %d: %w", n, errControlNotFound))
			return 0, nil, false
		}
		return n, h, true
	}
	mux.HandleFunc("GET /mocktikv/v1/faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		if n, h, ok := lookup(w, r); ok {
			writeJSON(w, http.StatusOK, map[string]any{"id": n, "hits": h.Hits()})
		}
	})
	mux.HandleFunc("DELETE /mocktikv/v1/faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		if n, h, ok := lookup(w, r); ok {
			h.Remove()
			faults.mu.Lock()
			delete(faults.byID, n)
			faults.mu.Unlock()
			do(w, nil)
		}
	})
	mux.HandleFunc("DELETE /mocktikv/v1/faults", func(w http.ResponseWriter, _ *http.Request) {
		faults.mu.Lock()
		for n, h := range faults.byID {
			h.Remove()
			delete(faults.byID, n)
		}
		faults.mu.Unlock()
		do(w, nil)
	})
}

// errControlNotFound marks a control call naming a store, region or fault
// the cluster does not have (404).
var errControlNotFound = errors.New("not found")
