package clientgo

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tikverr "github.com/tikv/client-go/v2/error"
	"github.com/tikv/client-go/v2/kv"
	"github.com/tikv/client-go/v2/rawkv"
	"github.com/tikv/client-go/v2/txnkv"
)

// The tests in this file drive the mock through its control API
// (/mocktikv/v1/ on PD's address, on by default in cmd/mocktikv) while
// client-go runs: region errors, lost responses, a leader that moves, a
// store that stops, a split under a warm region cache. Each checks that
// client-go gets through with the right answer, so that the mock fails
// the way client-go expects TiKV to.

// controlClient keeps no idle connection, so a control call leaves no
// goroutine behind.
var controlClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// mockControl calls the control API of the mock at MOCK_PD and decodes its
// answer into out (when not nil); a status other than 200 fails the test.
func mockControl(t *testing.T, method, path, body string, out any) {
	t.Helper()
	mockControlAt(t, pdAddr(t), method, path, body, out)
}

// mockControlAt is mockControl for the mock whose PD is at pd.
func mockControlAt(t *testing.T, pd, method, path, body string, out any) {
	t.Helper()
	if err := controlCall(pd, method, path, body, out); err != nil {
		t.Fatal(err)
	}
}

// controlCall calls the control API of the mock whose PD is at pd and
// decodes its answer into out (when not nil); a status other than 200 is
// an error. Goroutines other than a test's use it directly.
func controlCall(pd, method, path, body string, out any) error {
	req, err := http.NewRequest(method, "http://"+pd+"/mocktikv/v1"+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := controlClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: %q: %w", method, path, data, err)
		}
	}
	return nil
}

// inject adds a fault and removes it when the test ends; it returns the
// fault's id.
func inject(t *testing.T, fault string) uint64 {
	t.Helper()
	var added struct{ ID uint64 }
	mockControl(t, "POST", "/faults", fault, &added)
	t.Cleanup(func() { mockControl(t, "DELETE", fmt.Sprintf("/faults/%d", added.ID), "", nil) })
	return added.ID
}

// hits is how many requests fault id has matched.
func hits(t *testing.T, id uint64) int {
	t.Helper()
	var st struct{ Hits int }
	mockControl(t, "GET", fmt.Sprintf("/faults/%d", id), "", &st)
	return st.Hits
}

type mockRegion struct {
	ID          uint64   `json:"id"`
	StartKey    string   `json:"start_key"`
	EndKey      string   `json:"end_key"`
	LeaderStore uint64   `json:"leader_store"`
	PeerStores  []uint64 `json:"peer_stores"`
}

// regionOf is the region holding raw key in the mock at MOCK_PD.
func regionOf(t *testing.T, key []byte) mockRegion {
	t.Helper()
	return regionAt(t, pdAddr(t), key)
}

// regionAt is regionOf for the mock whose PD is at pd.
func regionAt(t *testing.T, pd string, key []byte) mockRegion {
	t.Helper()
	var regions []mockRegion
	mockControlAt(t, pd, "GET", "/regions", "", &regions)
	h := hex.EncodeToString(key)
	for _, r := range regions {
		if r.StartKey <= h && (r.EndKey == "" || h < r.EndKey) {
			return r
		}
	}
	t.Fatalf("no region holds %q", key)
	return mockRegion{}
}

// otherStore is a peer store of r other than its leader's.
func otherStore(t *testing.T, r mockRegion) uint64 {
	t.Helper()
	for _, s := range r.PeerStores {
		if s != r.LeaderStore {
			return s
		}
	}
	t.Fatalf("region %d has no follower", r.ID)
	return 0
}

func TestFaultsRaw(t *testing.T) {
	ctx, cancel := ctx10()
	defer cancel()
	cli, err := rawkv.NewClientWithOpts(ctx, []string{pdAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	key := k("fault-raw")
	if err := cli.Put(ctx, key, []byte("v1")); err != nil {
		t.Fatal(err)
	}
	get := func(t *testing.T, want string) {
		t.Helper()
		ctx, cancel := ctx10()
		defer cancel()
		v, err := cli.Get(ctx, key)
		if err != nil || string(v) != want {
			t.Fatalf("Get = %q, %v; want %q", v, err, want)
		}
	}

	t.Run("ServerIsBusyOnce", func(t *testing.T) {
		id := inject(t, fmt.Sprintf(`{"cmd": "RawGet", "key": %q, "steps": [{"times": 1, "region_error": {"server_is_busy": {"reason": "chaos"}}}]}`, hex.EncodeToString(key)))
		get(t, "v1")
		if n := hits(t, id); n != 1 {
			t.Fatalf("the busy fault matched %d requests, want 1 (client-go retried past it)", n)
		}
	})
	t.Run("LeaderMoved", func(t *testing.T) {
		r := regionOf(t, key)
		mockControl(t, "POST", fmt.Sprintf("/regions/%d/leader?store=%d", r.ID, otherStore(t, r)), "", nil)
		get(t, "v1") // the cached leader answers NotLeader naming the new one
		if err := cli.Put(ctx, key, []byte("v2")); err != nil {
			t.Fatalf("Put after the leader moved: %v", err)
		}
		get(t, "v2")
	})
	t.Run("LostPutResponse", func(t *testing.T) {
		inject(t, fmt.Sprintf(`{"cmd": "RawPut", "key": %q, "steps": [{"times": 1, "lose_response": {"code": "Unavailable", "message": "chaos: lost"}}]}`, hex.EncodeToString(key)))
		ctx, cancel := ctx10()
		defer cancel()
		err := cli.Put(ctx, key, []byte("v3"))
		t.Logf("Put with its response lost: %v", err)
		// Applied either way: client-go resends a raw put it did not hear
		// back from (raw puts are idempotent), or reports the error.
		get(t, "v3")
	})
	t.Run("StoreStopped", func(t *testing.T) {
		r := regionOf(t, key)
		stopped := r.LeaderStore
		mockControl(t, "POST", fmt.Sprintf("/stores/%d/stop", stopped), "", nil)
		t.Cleanup(func() { mockControl(t, "POST", fmt.Sprintf("/stores/%d/start", stopped), "", nil) })
		// TiKV's peers would elect a leader; the mock's operator does.
		mockControl(t, "POST", fmt.Sprintf("/regions/%d/leader?store=%d", r.ID, otherStore(t, r)), "", nil)
		start := time.Now()
		get(t, "v3")
		t.Logf("Get after the leader's store stopped: %v", time.Since(start))
	})
	t.Run("SplitUnderWarmCache", func(t *testing.T) {
		// On the raw-only mock: a split at a raw key would leave a
		// boundary the txn tests' client could not decode on MOCK_PD.
		pd := os.Getenv("MOCK_PD_RAWSPLIT")
		if pd == "" {
			t.Skip("MOCK_PD_RAWSPLIT not set (start a mock with -split rs3,rs6)")
		}
		ctx, cancel := ctx10()
		defer cancel()
		rc, err := rawkv.NewClientWithOpts(ctx, []string{pd})
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if err := rc.Put(ctx, key, []byte("warm")); err != nil {
			t.Fatal(err)
		}
		if v, err := rc.Get(ctx, key); err != nil || string(v) != "warm" { // the cache now holds key's region
			t.Fatalf("Get before the split = %q, %v", v, err)
		}
		var split struct {
			RegionID uint64 `json:"region_id"`
		}
		mockControlAt(t, pd, "POST", "/split?key="+hex.EncodeToString(append(append([]byte(nil), key...), 0)), "", &split)
		if r := regionAt(t, pd, key); r.ID != split.RegionID {
			t.Fatalf("key is in region %d, want the new left region %d", r.ID, split.RegionID)
		}
		// The cached region answers EpochNotMatch with the new layout.
		if v, err := rc.Get(ctx, key); err != nil || string(v) != "warm" {
			t.Fatalf("Get after the split = %q, %v", v, err)
		}
	})
}

func TestFaultsTxn(t *testing.T) {
	cli, err := txnkv.NewClient([]string{pdAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	key := k("fault-txn")
	commit := func(t *testing.T, v string) {
		t.Helper()
		txn, err := cli.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if err := txn.Set(key, []byte(v)); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := ctx10()
		defer cancel()
		if err := txn.Commit(ctx); err != nil {
			t.Fatalf("Commit %q: %v", v, err)
		}
	}
	read := func(t *testing.T, want string) {
		t.Helper()
		txn, err := cli.Begin()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := ctx10()
		defer cancel()
		v, err := txn.Get(ctx, key)
		if err != nil || string(v.Value) != want {
			t.Fatalf("Get = %q, %v; want %q", v.Value, err, want)
		}
	}
	commit(t, "t1")
	t.Run("PrewriteNotLeaderOnce", func(t *testing.T) {
		// A NotLeader without a new leader: client-go backs off and tries
		// again. Faults match transactional keys as sent (user keys).
		id := inject(t, fmt.Sprintf(`{"cmd": "KvPrewrite", "key": %q, "steps": [{"times": 1, "region_error": {"not_leader": {}}}]}`, hex.EncodeToString(key)))
		commit(t, "t2")
		read(t, "t2")
		if n := hits(t, id); n != 1 {
			t.Fatalf("the NotLeader fault matched %d prewrites, want 1", n)
		}
	})
	t.Run("CommitResponseLost", func(t *testing.T) {
		// The primary's commit applies but its answer is lost: client-go
		// resends the commit (keyed by start ts, harmless) or reports the
		// result undetermined; either way the value is committed.
		inject(t, fmt.Sprintf(`{"cmd": "KvCommit", "key": %q, "steps": [{"times": 1, "lose_response": {"code": "Unavailable", "message": "chaos: lost"}}]}`, hex.EncodeToString(key)))
		txn, err := cli.Begin()
		if err != nil {
			t.Fatal(err)
		}
		_ = txn.Set(key, []byte("t3"))
		ctx, cancel := ctx10()
		defer cancel()
		err = txn.Commit(ctx)
		t.Logf("Commit with its primary's answer lost: %v", err)
		read(t, "t3")
	})
}

// TestBankUnderFaults runs client-go's transactions (optimistic and
// pessimistic, with and without async commit) as bank transfers while a
// seeded nemesis drives the mock through its control API: lost answers to
// prewrites, commits and pessimistic locks after they applied, busy
// stores, leaders moved, regions split. Whatever each transfer's outcome
// (committed, failed, or undetermined to client-go), no money may be made
// or lost: the accounts' total is checked at the end.
func TestBankUnderFaults(t *testing.T) {
	cli, err := txnkv.NewClient([]string{pdAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	const n, initial = 16, 1000
	acct := func(i int) []byte { return k(fmt.Sprintf("nemesis-bank%02d", i)) }
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	txn, err := cli.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		_ = txn.Set(acct(i), binary.BigEndian.AppendUint64(nil, initial))
	}
	if err := txn.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mockControl(t, "DELETE", "/faults", "", nil) })

	// The nemesis: one action every 100 ms until the workers are done. It
	// runs on a goroutine of its own, so it reports a failed control call
	// instead of failing the test there.
	seed := int64(1)
	if v := os.Getenv("NEMESIS_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("NEMESIS_SEED: %v", err)
		}
	}
	pd := pdAddr(t)
	r := rand.New(rand.NewSource(seed))
	stop := make(chan struct{})
	type nemesisResult struct {
		actions map[string]int
		err     error
	}
	nemesisDone := make(chan nemesisResult)
	go func() {
		res := nemesisResult{actions: map[string]int{}}
		defer func() { nemesisDone <- res }()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for res.err == nil {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			key := acct(r.Intn(n))
			switch r.Intn(5) {
			case 0, 1:
				cmd := []string{"KvPrewrite", "KvCommit", "KvPessimisticLock"}[r.Intn(3)]
				body := fmt.Sprintf(`{"cmd": %q, "key": %q, "steps": [{"times": 1, "lose_response": {"code": "Unavailable", "message": "nemesis"}}]}`, cmd, hex.EncodeToString(key))
				res.err = controlCall(pd, "POST", "/faults", body, nil)
				res.actions["lose-"+cmd]++
			case 2:
				body := fmt.Sprintf(`{"key": %q, "steps": [{"times": 1, "region_error": {"server_is_busy": {"reason": "nemesis"}}}]}`, hex.EncodeToString(key))
				res.err = controlCall(pd, "POST", "/faults", body, nil)
				res.actions["busy"]++
			case 3:
				var regions []mockRegion
				if res.err = controlCall(pd, "GET", "/regions", "", &regions); res.err != nil {
					break
				}
				reg := regions[r.Intn(len(regions))]
				to := reg.PeerStores[r.Intn(len(reg.PeerStores))]
				res.err = controlCall(pd, "POST", fmt.Sprintf("/regions/%d/leader?store=%d", reg.ID, to), "", nil)
				res.actions["transfer-leader"]++
			case 4:
				// Refused (400) when the key is a boundary already.
				if controlCall(pd, "POST", "/split?txn_key="+hex.EncodeToString(key), "", nil) == nil {
					res.actions["split"]++
				}
			}
		}
	}()

	// transfer moves amt from account a to b in one transaction and says
	// how it ended. Each has time of its own: a lost answer can make
	// client-go wait out a lock's TTL.
	transfer := func(a, b int, amt uint64, pessimistic, asyncCommit bool) string {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		txn, err := cli.Begin()
		if err != nil {
			return "begin-error"
		}
		txn.SetPessimistic(pessimistic)
		txn.SetEnableAsyncCommit(asyncCommit)
		if pessimistic {
			if err := txn.LockKeys(ctx, kv.NewLockCtx(txn.StartTS(), 2000, time.Now()), acct(a), acct(b)); err != nil {
				_ = txn.Rollback()
				return "lock-error"
			}
		}
		m, err := txn.BatchGet(ctx, [][]byte{acct(a), acct(b)})
		if err != nil {
			_ = txn.Rollback()
			return "read-error"
		}
		va := binary.BigEndian.Uint64(m[string(acct(a))].Value)
		vb := binary.BigEndian.Uint64(m[string(acct(b))].Value)
		if va < amt {
			_ = txn.Rollback()
			return "no-funds"
		}
		_ = txn.Set(acct(a), binary.BigEndian.AppendUint64(nil, va-amt))
		_ = txn.Set(acct(b), binary.BigEndian.AppendUint64(nil, vb+amt))
		if err := txn.Commit(ctx); err != nil {
			if tikverr.IsErrorUndetermined(err) {
				return "commit-undetermined"
			}
			return "commit-error"
		}
		return "committed"
	}
	var mu sync.Mutex
	outcomes := map[string]int{}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wr := rand.New(rand.NewSource(seed*100 + int64(w)))
			note := func(what string) {
				mu.Lock()
				outcomes[what]++
				mu.Unlock()
			}
			// Transfers start for 5 s; each may then take longer.
			for start := time.Now(); time.Since(start) < 5*time.Second; {
				a, b := wr.Intn(n), wr.Intn(n)
				if a != b {
					note(transfer(a, b, uint64(wr.Intn(10)), w%2 == 0, w%3 == 0))
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	nem := <-nemesisDone
	if nem.err != nil {
		t.Fatalf("nemesis: %v", nem.err)
	}
	actions := nem.actions
	mockControl(t, "DELETE", "/faults", "", nil)
	t.Logf("nemesis (seed %d): %v; transfers: %v", seed, actions, outcomes)

	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	txn, err = cli.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var total uint64
	for i := range n {
		e, err := txn.Get(ctx, acct(i))
		if err != nil {
			t.Fatalf("final read of account %d: %v", i, err)
		}
		total += binary.BigEndian.Uint64(e.Value)
	}
	if total != n*initial {
		t.Fatalf("bank invariant broken: total %d, want %d", total, n*initial)
	}
	if outcomes["committed"] == 0 || len(actions) == 0 {
		t.Fatalf("nothing tested: transfers %v, nemesis %v", outcomes, actions)
	}
}
