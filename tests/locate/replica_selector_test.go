package locate_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/transport"
)

// Ports of client-go internal/locate/replica_selector_test.go: the
// table-driven access-path cases. Each case runs on a fresh 3-store
// mocktikv cluster (stores labelled id=<store>, one region led by store 1)
// in a synctest bubble; the n-th attempt of the request gets the n-th
// scripted answer (a region error, or a DeadlineExceeded send failure after
// which the prober reports that store unreachable), and later attempts are
// served by whichever replica they reach. A case asserts the exact sequence of attempts (store and
// replica_read / stale_read flags), the backoffs slept (as virtual time),
// the outcome and whether the region is still cached.
//
// client-go pins its tie-breaking random source to 0; tikvgo breaks ties in
// replica scoring at random, so where client-go's path depends on a tie the
// expected path uses variables (x, y: distinct stores not named literally
// in the path) or lists the alternatives tikvgo may take.

// answer is one scripted answer of an access-path case.
type answer struct {
	name string
	// regionErr builds the region error (nil: the send fails with
	// context.DeadlineExceeded).
	regionErr func(h *harness) *errorpb.Error
}

func (a answer) String() string { return a.name }

func rerr(name string, e *errorpb.Error) answer {
	return answer{name: name, regionErr: func(*harness) *errorpb.Error { return e }}
}

var (
	aNotLeader = rerr("NotLeader", notLeader(nil))
	aBusy      = rerr("ServerIsBusy", errServerIsBusy)
	aBusyWait  = rerr("ServerIsBusy(wait 10ms)", errServerIsBusyWait)
	aNotReady  = rerr("DataIsNotReady", errDataIsNotReady)
	aDeadline  = answer{name: "DeadlineExceeded"}

	aRegionNotFound   = rerr("RegionNotFound", &errorpb.Error{Message: "region not found", RegionNotFound: &errorpb.RegionNotFound{}})
	aKeyNotInRegion   = rerr("KeyNotInRegion", &errorpb.Error{Message: "key not in region", KeyNotInRegion: &errorpb.KeyNotInRegion{}})
	aEpochNotMatch    = rerr("EpochNotMatch", &errorpb.Error{Message: "epoch not match", EpochNotMatch: &errorpb.EpochNotMatch{}})
	aStaleCommand     = rerr("StaleCommand", &errorpb.Error{Message: "stale command", StaleCommand: &errorpb.StaleCommand{}})
	aStoreNotMatch    = rerr("StoreNotMatch", &errorpb.Error{Message: "store not match", StoreNotMatch: &errorpb.StoreNotMatch{}})
	aRaftEntryTooBig  = rerr("RaftEntryTooLarge", &errorpb.Error{Message: "raft entry too large", RaftEntryTooLarge: &errorpb.RaftEntryTooLarge{}})
	aMaxTSNotSynced   = rerr("MaxTimestampNotSynced", &errorpb.Error{Message: "max ts not synced", MaxTimestampNotSynced: &errorpb.MaxTimestampNotSynced{}})
	aReadIndexNotRdy  = rerr("ReadIndexNotReady", &errorpb.Error{Message: "read index not ready", ReadIndexNotReady: &errorpb.ReadIndexNotReady{}})
	aMergingMode      = rerr("ProposalInMergingMode", &errorpb.Error{Message: "proposal in merging mode", ProposalInMergingMode: &errorpb.ProposalInMergingMode{}})
	aNotInitialized   = rerr("RegionNotInitialized", &errorpb.Error{Message: "region not initialized", RegionNotInitialized: &errorpb.RegionNotInitialized{}})
	aDiskFull         = rerr("DiskFull", &errorpb.Error{Message: "disk full", DiskFull: &errorpb.DiskFull{}})
	aRecovery         = rerr("RecoveryInProgress", &errorpb.Error{Message: "recovery in progress", RecoveryInProgress: &errorpb.RecoveryInProgress{}})
	aFlashback        = rerr("FlashbackInProgress", &errorpb.Error{Message: "flashback in progress", FlashbackInProgress: &errorpb.FlashbackInProgress{}})
	aFlashbackNotPrep = rerr("FlashbackNotPrepared", &errorpb.Error{Message: "flashback not prepared", FlashbackNotPrepared: &errorpb.FlashbackNotPrepared{}})
	aIsWitness        = rerr("IsWitness", &errorpb.Error{Message: "is witness", IsWitness: &errorpb.IsWitness{}})
	aMismatchPeer     = rerr("MismatchPeerId", &errorpb.Error{Message: "mismatch peer id", MismatchPeerId: &errorpb.MismatchPeerId{}})
	aBucketVersion    = rerr("BucketVersionNotMatch", &errorpb.Error{Message: "bucket version not match", BucketVersionNotMatch: &errorpb.BucketVersionNotMatch{Version: 5}})
)

// aNotLeaderTo is NotLeader naming the region's peer on store as leader.
func aNotLeaderTo(store uint64) answer {
	return answer{name: fmt.Sprintf("NotLeader(leader on %d)", store), regionErr: func(h *harness) *errorpb.Error {
		return notLeader(h.peer("key", store))
	}}
}

type accessCase struct {
	write   bool // a prewrite instead of a point read
	read    kv.ReplicaReadType
	stale   bool
	timeout time.Duration // per-attempt read timeout; 0: the default (not a short one)
	busy    time.Duration // busy threshold
	label   string        // match stores labelled id=<label>
	answers []answer

	// Expectations. path lists the allowed access paths (see matchPath).
	path    [][]string
	backoff []string // policy names of the waits, in any order
	err     string   // errKind of the outcome
	valid   bool     // the region is still cached afterwards

	// when, if set, says whether a run took a path this case is about;
	// other runs are repeated (see runAccess).
	when func(path []string) bool
}

func (c accessCase) String() string {
	var b strings.Builder
	kind := "get"
	if c.write {
		kind = "prewrite"
	}
	fmt.Fprintf(&b, "%s read=%s", kind, c.read)
	if c.stale {
		b.WriteString(" stale")
	}
	if c.timeout > 0 {
		fmt.Fprintf(&b, " timeout=%s", c.timeout)
	}
	if c.busy > 0 {
		fmt.Fprintf(&b, " busy=%s", c.busy)
	}
	if c.label != "" {
		fmt.Fprintf(&b, " label=id:%s", c.label)
	}
	fmt.Fprintf(&b, " answers=%v", c.answers)
	return b.String()
}

// one is the single allowed path p.
func one(p ...string) [][]string { return [][]string{p} }

// runAccess runs c against h (whose recorder must be empty) and checks the
// expectations. It reports false, checking nothing, when the scripted
// answers made no sense for the attempts tikvgo's random tie-breaking chose
// (the rules of client-go's RegionErrorType.Valid: a store naming itself
// the new leader, NotLeader to a replica or stale read, DataIsNotReady to a
// read that is not stale) or when c.when rejects the path; the caller then
// runs the case again on a fresh cluster.
func runAccess(t *testing.T, h *harness, c accessCase) bool {
	t.Helper()
	cmd := transport.CmdGet
	if c.write {
		cmd = transport.CmdPrewrite
	}
	var steps []mocktikv.Step
	for _, a := range c.answers {
		if a.regionErr == nil {
			steps = append(steps, mocktikv.Times(1, mocktikv.Fail(context.DeadlineExceeded)))
			continue
		}
		steps = append(steps, mocktikv.Times(1, mocktikv.RegionError(a.regionErr(h))))
	}
	// After the script every replica serves, whoever leads (client-go's
	// fnClient answers success to any store).
	steps = append(steps, mocktikv.Always(mocktikv.Respond(func(transport.Message) transport.Message { return cmd.NewResponse() })))
	f := h.mock.Inject(mocktikv.Fault{Cmd: cmd, Steps: steps})
	defer f.Remove()
	opts := pipeline.ReadOptions{ReplicaRead: c.read, StaleRead: c.stale, BusyThreshold: c.busy}
	if c.label != "" {
		opts.MatchLabels = []*metapb.StoreLabel{{Key: "id", Value: c.label}}
	}
	ctx := pipeline.WithReadOptions(context.Background(), opts)
	h.env.ReadTimeout = c.timeout
	start := time.Now()
	var err error
	if c.write {
		_, err = h.prewrite(ctx, "key")
	} else {
		_, err = h.get(ctx, "key")
	}
	elapsed := time.Since(start)
	got := h.rec.take()
	for i, a := range got {
		if i >= len(c.answers) {
			break
		}
		name := c.answers[i].name
		switch {
		case name == fmt.Sprintf("NotLeader(leader on %d)", a.store),
			strings.HasPrefix(name, "NotLeader") && (a.replicaRead || a.staleRead),
			name == aNotReady.name && !a.staleRead:
			return false
		}
	}
	if c.when != nil && !c.when(paths(got)) {
		return false
	}
	desc := fmt.Sprintf("case %s\n\tpath %v, err %v, elapsed %v", c, paths(got), err, elapsed)
	if !matchAny(c.path, paths(got)) {
		t.Errorf("%s\n\twant path one of %v", desc, c.path)
	}
	for i, a := range got {
		if a.retry != (i > 0) {
			t.Errorf("%s\n\tattempt %d: is_retry_request = %v", desc, i, a.retry)
		}
	}
	if k := errKind(err); k != c.err {
		t.Errorf("%s\n\toutcome %q, want %q", desc, k, c.err)
	}
	lo, hi := backoffRange(c.backoff)
	if elapsed < lo || elapsed > hi {
		t.Errorf("%s\n\tslept %v, want [%v, %v] for backoffs %v", desc, elapsed, lo, hi, c.backoff)
	}
	if v := h.cached("key"); v != c.valid {
		t.Errorf("%s\n\tregion cached = %v, want %v", desc, v, c.valid)
	}
	return true
}

// maxRuns bounds how often a case is repeated to get a run its script
// makes sense for.
const maxRuns = 100

// repeat runs fn in a fresh synctest bubble until it reports a valid run.
func repeat(t *testing.T, what string, fn func(t *testing.T) bool) {
	t.Helper()
	for range maxRuns {
		ok := false
		synctest.Test(t, func(t *testing.T) { ok = fn(t) })
		if ok || t.Failed() {
			return
		}
	}
	t.Errorf("%s: no valid run in %d tries", what, maxRuns)
}

// accessHarness is the replica-selector suite's cluster: three stores
// labelled id=<store>, the leader on store 1.
func accessHarness(t *testing.T) *harness {
	h := newHarness(t, withIDLabels())
	h.markDownOnDeadline()
	h.region("key")
	return h
}

// runCases runs each case on a fresh cluster.
func runCases(t *testing.T, cases []accessCase) {
	t.Helper()
	for _, c := range cases {
		repeat(t, c.String(), func(t *testing.T) bool { return runAccess(t, accessHarness(t), c) })
	}
}

// runChain runs cases one after the other on one cluster, keeping what the
// client learnt (client-go's runMultiCaseAndCompare without reset).
func runChain(t *testing.T, setup func(h *harness), cases ...accessCase) {
	t.Helper()
	repeat(t, fmt.Sprint(cases), func(t *testing.T) bool {
		h := accessHarness(t)
		if setup != nil {
			setup(h)
		}
		for _, c := range cases {
			if !runAccess(t, h, c) {
				return false
			}
		}
		return true
	})
}

func leaderOn(store uint64) func(h *harness) {
	return func(h *harness) { h.transferLeader("key", store) }
}

const (
	leader   = kv.ReplicaReadLeader
	follower = kv.ReplicaReadFollower
	mixed    = kv.ReplicaReadMixed
	prefer   = kv.ReplicaReadPreferLeader
	learner  = kv.ReplicaReadLearner
)

// TestReplicaReadAccessPathByLeaderCase ports client-go's
// TestReplicaReadAccessPathByLeaderCase
// (internal/locate/replica_selector_test.go).
//
// Its NotLeader-from-every-replica case also ports client-go's TestLogging
// (internal/locate/region_request3_test.go): the request ends with a region
// error, not a failure (the log lines themselves are client-go's).
func TestReplicaReadAccessPathByLeaderCase(t *testing.T) {
	busy11 := slices.Repeat([]answer{aBusy}, 11)
	runCases(t, []accessCase{
		{read: leader, path: one("1:"), valid: true},
		{read: leader, answers: []answer{aBusyWait, aBusy}, path: one("1:", "1:", "1:"),
			backoff: []string{"tikvServerBusy", "tikvServerBusy"}, valid: true},
		// Two ServerIsBusy without an estimated wait from the cached leader:
		// the followers are probed with leader reads (client-go#2028); when
		// they are busy too the leader is retried with plain backoff.
		{read: leader, answers: busy11,
			path:    one("1:", "1:", "x:", "y:", "1:", "1:", "1:", "1:", "1:", "1:", "1:", "1:"),
			backoff: slices.Repeat([]string{"tikvServerBusy"}, 11), valid: true},
		{read: leader, answers: []answer{aNotLeader}, path: one("1:", "x:"),
			backoff: []string{"regionScheduling"}, valid: true},
		{read: leader, answers: []answer{aNotLeader, aNotLeader}, path: one("1:", "x:", "y:"),
			backoff: []string{"regionScheduling", "regionScheduling"}, valid: true},
		{read: leader, answers: []answer{aNotLeader, aNotLeader, aNotLeader}, path: one("1:", "x:", "y:"),
			backoff: []string{"regionScheduling", "regionScheduling", "regionScheduling"}, err: "noReplica"},
		// A hinted leader is tried at once.
		{read: leader, answers: []answer{aNotLeaderTo(3)}, path: one("1:", "3:"), valid: true},
		{read: leader, answers: []answer{aNotLeaderTo(3), aBusy}, path: one("1:", "3:", "3:"),
			backoff: []string{"tikvServerBusy"}, valid: true},
		// A send failure to the leader (now unreachable) moves on after a
		// tikvRPC backoff.
		{read: leader, answers: []answer{aDeadline}, path: one("1:", "x:"),
			backoff: []string{"tikvRPC"}, valid: true},
		{read: leader, answers: []answer{aDeadline, aNotLeaderTo(1), aNotLeaderTo(1)}, path: one("1:", "x:", "y:"),
			backoff: []string{"tikvRPC"}, err: "noReplica"},
		{read: leader, answers: []answer{aDeadline, aBusy, aBusy}, path: one("1:", "x:", "y:"),
			backoff: []string{"tikvRPC", "tikvServerBusy"}, err: "noReplica"},
		// Busy threshold on a leader read.
		{read: leader, busy: 10 * time.Millisecond, answers: []answer{aNotLeader, aNotLeaderTo(3), aBusyWait, aNotLeader},
			path: one("1:", "2:", "3:", "3:"), backoff: []string{"regionScheduling", "regionScheduling", "tikvServerBusy"}, err: "noReplica"},
		{read: leader, busy: 10 * time.Millisecond, answers: []answer{aNotLeader, aNotLeaderTo(3), aBusyWait, aBusy},
			path: one("1:", "2:", "3:", "3:", "3:"), backoff: []string{"regionScheduling", "tikvServerBusy", "tikvServerBusy"}, valid: true},
	})
}

// TestReplicaReadAccessPathByLeaderCaseSwitchLeader ports the leader-switch
// chain of client-go's TestReplicaReadAccessPathByLeaderCase
// (internal/locate/replica_selector_test.go): what one request learns (the
// new leader) is used by the next.
func TestReplicaReadAccessPathByLeaderCaseSwitchLeader(t *testing.T) {
	runChain(t, nil,
		accessCase{read: leader, answers: []answer{aNotLeader}, path: one("1:", "x:"),
			backoff: []string{"regionScheduling"}, valid: true},
		accessCase{read: leader, answers: []answer{aNotLeaderTo(3)}, path: [][]string{{"2:", "3:"}, {"3:"}}, valid: true},
		accessCase{read: leader, answers: []answer{aBusy}, path: one("3:", "3:"),
			backoff: []string{"tikvServerBusy"}, valid: true},
	)
}

// TestReplicaReadAccessPathByBasicCase ports client-go's
// TestReplicaReadAccessPathByBasicCase
// (internal/locate/replica_selector_test.go): one region error on the first
// attempt, for every request kind and read mode.
func TestReplicaReadAccessPathByBasicCase(t *testing.T) {
	retryable := []answer{aBusy, aBusyWait, aStaleCommand, aMaxTSNotSynced, aMergingMode, aReadIndexNotRdy, aNotInitialized, aDiskFull}
	noRetry := []answer{aRegionNotFound, aKeyNotInRegion, aEpochNotMatch, aStoreNotMatch, aRaftEntryTooBig, aRecovery,
		aFlashbackNotPrep, aIsWitness, aMismatchPeer, aBucketVersion}
	retryBackoff := map[string]string{
		aMaxTSNotSynced.name: "maxTsNotSynced", aMergingMode.name: "regionScheduling", aReadIndexNotRdy.name: "regionScheduling",
		aNotInitialized.name: "regionNotInitialized", aDiskFull.name: "tikvDiskFull",
	}
	type mode struct {
		write bool
		read  kv.ReplicaReadType
		stale bool
	}
	modes := []mode{{write: true}, {read: leader}, {read: follower}, {read: mixed}, {read: prefer}, {read: mixed, stale: true}}
	var cases []accessCase
	for _, m := range modes {
		for _, a := range retryable {
			var bo []string
			if b, ok := retryBackoff[a.name]; ok {
				bo = []string{b}
			}
			isBusy := a.name == aBusy.name || a.name == aBusyWait.name
			if isBusy && m.read == leader {
				bo = []string{"tikvServerBusy"}
			}
			var p [][]string
			switch {
			case m.read == leader:
				p = one("1:", "1:")
			case m.read == follower:
				p = one("x:r", "y:r")
			case m.read == prefer:
				p = one("1:", "x:r")
			case m.stale && isBusy:
				// A busy replica is not retried, and a stale read keeps
				// reading stale while the leader has not served.
				p = [][]string{{"1:s", "x:s"}, {"x:s", "1:"}}
			case m.stale:
				p = [][]string{{"1:s", "x:r"}, {"x:s", "1:"}}
			default: // mixed
				p = [][]string{{"1:", "x:r"}, {"x:r", "1:"}, {"x:r", "y:r"}}
			}
			cases = append(cases, accessCase{write: m.write, read: m.read, stale: m.stale, answers: []answer{a},
				path: p, backoff: bo, valid: true})
		}
		for _, a := range noRetry {
			c := accessCase{write: m.write, read: m.read, stale: m.stale, answers: []answer{a},
				err: "region:" + a.name}
			switch a.name {
			case aRecovery.name:
				c.backoff = []string{"regionRecoveryInProgress"}
			case aIsWitness.name:
				c.backoff = []string{"isWitness"}
			case aBucketVersion.name:
				c.valid = true
			case aRaftEntryTooBig.name, aFlashbackNotPrep.name:
				c.err, c.valid = "fatal:"+a.name, true
			}
			switch {
			case m.read == leader, m.read == prefer:
				c.path = one("1:")
			case m.read == follower && a.name == aRegionNotFound.name:
				// A follower may not have the region yet: the leader is
				// tried once, the region invalidated for everyone else.
				c.path, c.err = one("x:r", "1:"), ""
			case m.read == follower:
				c.path = one("x:r")
			case a.name == aRegionNotFound.name:
				// Mixed and stale reads: ported for the leader-first pick
				// only when the first pick is the leader; a follower first
				// retries on the leader, as the follower case above.
				if m.stale {
					c.path = [][]string{{"1:s"}, {"x:s", "1:"}}
				} else {
					c.path = [][]string{{"1:"}, {"x:r", "1:"}}
				}
				c.err = "any"
			case m.stale:
				c.path = one("x:s")
			default:
				c.path = [][]string{{"1:"}, {"x:r"}}
			}
			cases = append(cases, c)
		}
	}
	for _, c := range cases {
		if c.err == "any" {
			// The outcome depends on the random first pick: run it as a
			// chain-free case with its own check.
			synctest.Test(t, func(t *testing.T) {
				h := accessHarness(t)
				c := c
				c.err = ""
				f := h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdGet, Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.RegionError(c.answers[0].regionErr(h)))}})
				defer f.Remove()
				ctx := pipeline.WithReadOptions(context.Background(), pipeline.ReadOptions{ReplicaRead: c.read, StaleRead: c.stale})
				_, err := h.get(ctx, "key")
				got := paths(h.rec.take())
				if !matchAny(c.path, got) {
					t.Fatalf("case %s: path %v, want one of %v", c, got, c.path)
				}
				want := "region:RegionNotFound"
				if len(got) == 2 {
					want = ""
				}
				if k := errKind(err); k != want {
					t.Errorf("case %s: path %v: outcome %q, want %q", c, got, k, want)
				}
				if h.cached("key") {
					t.Errorf("case %s: the region must be invalidated", c)
				}
			})
			continue
		}
		repeat(t, c.String(), func(t *testing.T) bool { return runAccess(t, accessHarness(t), c) })
	}
}

// TestReplicaReadAccessPathByFollowerCase ports client-go's
// TestReplicaReadAccessPathByFollowerCase
// (internal/locate/replica_selector_test.go).
func TestReplicaReadAccessPathByFollowerCase(t *testing.T) {
	runCases(t, []accessCase{
		{read: follower, path: one("x:r"), valid: true},
		{read: follower, answers: []answer{aBusyWait, aBusy}, path: one("x:r", "y:r", "1:"), valid: true},
		{read: follower, answers: []answer{aBusy, aBusyWait, aBusy}, path: one("x:r", "y:r", "1:"),
			backoff: []string{"tikvServerBusy"}, err: "noReplica"},
		{read: follower, answers: []answer{aDeadline, aBusy}, path: one("x:r", "y:r", "1:"),
			backoff: []string{"tikvRPC"}, valid: true},
		// A short read timeout retries the next replica at once.
		{read: follower, timeout: time.Second, answers: []answer{aDeadline, aBusy}, path: one("x:r", "y:r", "1:"), valid: true},
	})
}

// TestReplicaReadAccessPathByMixedAndPreferLeaderCase ports client-go's
// TestReplicaReadAccessPathByMixedAndPreferLeaderCase
// (internal/locate/replica_selector_test.go).
func TestReplicaReadAccessPathByMixedAndPreferLeaderCase(t *testing.T) {
	runCases(t, []accessCase{
		{read: prefer, path: one("1:"), valid: true},
		{read: prefer, answers: []answer{aBusyWait, aStaleCommand, aBusy}, path: one("1:", "x:r", "y:r"),
			backoff: []string{"tikvServerBusy"}, err: "noReplica"},
		{read: prefer, answers: []answer{aBusy, aRegionNotFound}, path: one("1:", "x:r"), err: "region:RegionNotFound"},
		{read: prefer, answers: []answer{aDeadline, aBusy}, path: one("1:", "x:r", "y:r"),
			backoff: []string{"tikvRPC"}, valid: true},
		{read: prefer, timeout: time.Second, answers: []answer{aDeadline, aBusy}, path: one("1:", "x:r", "y:r"), valid: true},
		// Label matching outranks the leader.
		{read: mixed, label: "2", answers: []answer{aDeadline, aBusy}, path: one("2:r", "1:", "3:r"),
			backoff: []string{"tikvRPC"}, valid: true},
		{read: mixed, label: "2", timeout: time.Second, answers: []answer{aDeadline, aBusy}, path: one("2:r", "1:", "3:r"), valid: true},
		{read: mixed, label: "2", timeout: time.Second, answers: []answer{aDeadline, aDiskFull, aFlashbackNotPrep},
			path: one("2:r", "1:", "3:r"), backoff: []string{"tikvDiskFull"}, err: "fatal:FlashbackNotPrepared", valid: true},
		// A replica read meeting a flashback goes to the leader.
		{read: mixed, label: "2", timeout: time.Second, answers: []answer{aFlashback}, path: one("2:r", "1:"), valid: true},
	})
	// With the leader on store 3.
	runChain(t, leaderOn(3), accessCase{read: prefer, answers: []answer{aDeadline, aBusy}, path: one("3:", "x:r", "y:r"),
		backoff: []string{"tikvRPC"}, valid: true})
	runChain(t, leaderOn(3), accessCase{read: prefer, label: "2", answers: []answer{aDeadline, aBusy}, path: one("2:r", "3:", "1:r"),
		backoff: []string{"tikvRPC"}, valid: true})
	runChain(t, leaderOn(3), accessCase{read: prefer, answers: []answer{aBusy, aBusy, aBusy}, path: one("3:", "x:r", "y:r"),
		backoff: []string{"tikvServerBusy"}, err: "noReplica"})
	runChain(t, leaderOn(3), accessCase{read: prefer, label: "2", answers: []answer{aBusy, aBusy, aBusy}, path: one("2:r", "3:", "1:r"),
		backoff: []string{"tikvServerBusy"}, err: "noReplica"})
	runChain(t, leaderOn(3), accessCase{read: mixed, label: "3", timeout: time.Second, answers: []answer{aDeadline, aBusy},
		path: one("3:", "x:r", "y:r"), valid: true})

	// A ServerIsBusy without estimated wait marks the store slow: the next
	// prefer-leader read avoids the slow leader.
	runChain(t, nil,
		accessCase{read: prefer, answers: []answer{aBusy}, path: one("1:", "x:r"), valid: true},
		accessCase{read: prefer, answers: []answer{aBusy, aBusy, aBusy}, path: one("x:r", "y:r", "1:"),
			backoff: []string{"tikvServerBusy"}, err: "noReplica"},
	)
	runChain(t, nil,
		accessCase{read: prefer, answers: []answer{aBusy, aBusy}, path: one("1:", "x:r", "y:r"), valid: true},
		accessCase{read: prefer, answers: []answer{aBusy, aBusy, aBusy}, path: [][]string{{"y:r", "1:"}, {"x:r", "1:"}},
			backoff: []string{"tikvServerBusy"}, err: "noReplica"},
	)
}

// TestReplicaReadAccessPathByStaleReadCase ports client-go's
// TestReplicaReadAccessPathByStaleReadCase and the stale-read cases of
// TestReplicaReadAccessPathByCase / TestReplicaReadAccessPathByCase2
// (internal/locate/replica_selector_test.go).
func TestReplicaReadAccessPathByStaleReadCase(t *testing.T) {
	runCases(t, []accessCase{
		{read: mixed, stale: true, path: one("x:s"), valid: true},
		// DataIsNotReady on a follower: a leader read next, no backoff.
		{read: mixed, stale: true, label: "2", answers: []answer{aNotReady}, path: one("2:s", "1:"), valid: true},
		{read: mixed, stale: true, label: "2", answers: []answer{aNotReady, aBusy}, path: one("2:s", "1:", "2:s"), valid: true},
		{read: mixed, stale: true, label: "2", answers: []answer{aNotReady, aNotLeaderTo(3)}, path: one("2:s", "1:", "3:"), valid: true},
		{read: mixed, stale: true, label: "2", timeout: time.Second, answers: []answer{aNotReady, aNotLeaderTo(2)},
			path: one("2:s", "1:", "2:"), valid: true},
		// A replica that timed out is not retried even when named leader.
		{read: mixed, stale: true, label: "2", timeout: time.Second, answers: []answer{aDeadline, aNotLeaderTo(2)},
			path: one("2:s", "1:", "3:s"), valid: true},
		{read: mixed, stale: true, label: "2", answers: []answer{aNotReady, aBusy, aBusy, aBusy}, path: one("2:s", "1:", "2:s", "3:s"),
			backoff: []string{"tikvServerBusy"}, err: "noReplica"},
		{read: mixed, stale: true, label: "2", answers: []answer{aNotReady, aNotLeader, aBusy, aBusy}, path: one("2:s", "1:", "2:r", "3:r"),
			backoff: []string{"regionScheduling", "tikvServerBusy"}, err: "noReplica"},
		{read: mixed, stale: true, label: "2", answers: []answer{aNotReady, aNotLeaderTo(3), aBusy, aNotLeaderTo(2), aBusy},
			path: one("2:s", "1:", "3:", "3:", "2:", "2:"), backoff: []string{"tikvServerBusy", "tikvServerBusy"}, valid: true},
		{read: mixed, stale: true, label: "2", answers: []answer{aNotReady, aRegionNotFound}, path: one("2:s", "1:"),
			err: "region:RegionNotFound"},
		{read: mixed, stale: true, label: "3", answers: []answer{aNotReady, aNotLeader}, path: one("3:s", "1:", "3:r"),
			backoff: []string{"regionScheduling"}, valid: true},
		{read: mixed, stale: true, label: "3", answers: []answer{aBusy, aBusy}, path: one("3:s", "1:", "x:s"), valid: true},
		{read: mixed, stale: true, label: "2", timeout: time.Second, answers: []answer{aDeadline, aBusy}, path: one("2:s", "1:", "3:s"), valid: true},
		{read: mixed, stale: true, label: "2", timeout: time.Second, answers: []answer{aDeadline, aDeadline}, path: one("2:s", "1:", "3:s"), valid: true},
		// Stale reads on the leader's label: the leader serves stale reads
		// too; DataIsNotReady there (not possible on a real leader) moves to
		// replica reads.
		{read: mixed, stale: true, label: "1", answers: []answer{aNotReady}, path: one("1:s", "x:r"), valid: true},
	})
	// Without a short timeout, send failures back off and the failed stores
	// are avoided; the next request goes to the remaining replica.
	runChain(t, nil,
		accessCase{read: mixed, stale: true, label: "2", answers: []answer{aDeadline, aDeadline}, path: one("2:s", "1:", "3:r"),
			backoff: []string{"tikvRPC", "tikvRPC"}, valid: true},
		accessCase{read: mixed, stale: true, label: "2", answers: []answer{aBusy}, path: one("3:s"),
			backoff: []string{"tikvServerBusy"}, err: "noReplica"},
	)
	// Leader on store 2.
	// Leader on store 2, no label: client-go's pinned tie-breaking starts on
	// store 1, a follower; the runs starting on a follower are compared.
	firstFollower := func(p []string) bool { return !strings.HasPrefix(p[0], "2:") }
	runChain(t, leaderOn(2), accessCase{read: mixed, stale: true, answers: []answer{aNotReady, aBusy, aBusy, aBusy},
		path: one("x:s", "2:", "y:s", "x:s"), backoff: []string{"tikvServerBusy"}, err: "noReplica", when: firstFollower})
	runChain(t, leaderOn(2), accessCase{read: mixed, stale: true, answers: []answer{aNotReady, aBusy, aBusy},
		path: one("x:s", "2:", "y:s", "x:s"), valid: true, when: firstFollower})
}

// TestReplicaReadAccessPathByCase ports client-go's
// TestReplicaReadAccessPathByCase and TestReplicaReadAccessPathByCase2
// (internal/locate/replica_selector_test.go): their leader and write cases
// with short timeouts and mixed errors.
func TestReplicaReadAccessPathByCase(t *testing.T) {
	runCases(t, []accessCase{
		{read: leader, timeout: time.Second, answers: []answer{aDeadline}, path: one("1:", "x:r"), valid: true},
		{read: leader, timeout: time.Second, answers: []answer{aNotLeaderTo(3), aDeadline}, path: one("1:", "3:", "2:r"), valid: true},
		{read: leader, timeout: time.Second, answers: []answer{aNotLeader, aDeadline, aNotLeaderTo(2)}, path: one("1:", "x:", "y:"),
			backoff: []string{"regionScheduling"}, err: "noReplica", valid: true},
		{read: leader, timeout: time.Second, answers: []answer{aNotLeader, aNotLeaderTo(3), aDeadline}, path: one("1:", "2:", "3:"),
			backoff: []string{"regionScheduling"}, err: "noReplica", valid: true},
		// Writes never fast-retry: the timed-out store is probed (now
		// unreachable) and the write backs off.
		{write: true, timeout: time.Second, answers: []answer{aNotLeaderTo(3), aDeadline}, path: one("1:", "3:", "2:"),
			backoff: []string{"tikvRPC"}, valid: true},
		{write: true, answers: []answer{aDeadline, aNotLeader, aNotLeaderTo(2), aBusy, aDeadline},
			path: one("1:", "2:", "3:", "2:", "2:"), backoff: []string{"regionScheduling", "tikvRPC", "tikvRPC", "tikvServerBusy"},
			err: "noReplica"},
		{read: mixed, stale: true, timeout: time.Second, answers: []answer{aDeadline, aBusy, aBusy},
			path: [][]string{{"1:s", "x:s", "y:s"}, {"x:s", "1:", "y:s"}}, backoff: []string{"tikvServerBusy"}, err: "noReplica", valid: true},
		{read: mixed, timeout: time.Second, answers: []answer{aBusy, aBusy, aDeadline},
			path:    [][]string{{"1:", "x:r", "y:r"}, {"x:r", "1:", "y:r"}, {"x:r", "y:r", "1:"}},
			backoff: []string{"tikvServerBusy"}, err: "noReplica", valid: true},
		{read: mixed, label: "2", timeout: time.Second, answers: []answer{aDeadline, aBusy}, path: one("2:r", "1:", "3:r"), valid: true},
	})
	runChain(t, leaderOn(2), accessCase{read: mixed, label: "3", timeout: time.Second, answers: []answer{aDeadline, aBusy},
		path: one("3:r", "2:", "1:r"), valid: true})
	runChain(t, leaderOn(3), accessCase{read: mixed, answers: []answer{aBusy, aBusy, aBusy},
		path:    [][]string{{"x:r", "y:r", "3:"}, {"x:r", "3:", "y:r"}, {"3:", "x:r", "y:r"}},
		backoff: []string{"tikvServerBusy"}, err: "noReplica"})
}

// TestReplicaReadAccessPathByTryIdleReplicaCase ports client-go's
// TestReplicaReadAccessPathByTryIdleReplicaCase
// (internal/locate/replica_selector_test.go): load-based replica read with a
// busy threshold.
func TestReplicaReadAccessPathByTryIdleReplicaCase(t *testing.T) {
	ms10 := 10 * time.Millisecond
	runCases(t, []accessCase{
		// Writes never move to an idle replica; two busy(0) answers from the
		// leader probe a follower with a leader read.
		{write: true, busy: ms10, answers: []answer{aBusy, aBusy}, path: one("1:", "1:", "x:"),
			backoff: []string{"tikvServerBusy", "tikvServerBusy"}, valid: true},
		{read: leader, busy: ms10, answers: []answer{aBusyWait, aBusyWait}, path: one("1:", "x:r", "y:r"), valid: true},
		{read: leader, busy: ms10, answers: []answer{aBusyWait, aBusyWait, aBusyWait}, path: one("1:", "x:r", "y:r", "1:"),
			backoff: []string{"tikvServerBusy"}, valid: true},
	})
}

// TestReplicaSelectorLeaderBusyProbe ports client-go's
// TestReplicaSelectorLeaderBusyProbe
// (internal/locate/replica_selector_test.go; client-go#2028).
func TestReplicaSelectorLeaderBusyProbe(t *testing.T) {
	runCases(t, []accessCase{
		{read: leader, answers: []answer{aBusy}, path: one("1:", "1:"), backoff: []string{"tikvServerBusy"}, valid: true},
		{read: leader, answers: []answer{aBusy, aBusy}, path: one("1:", "1:", "x:"),
			backoff: []string{"tikvServerBusy", "tikvServerBusy"}, valid: true},
		// Misjudgement: the probed follower names the cached leader; it is
		// retried and never probed around again.
		{read: leader, answers: []answer{aBusy, aBusy, aNotLeaderTo(1), aBusy, aBusy}, path: one("1:", "1:", "x:", "1:", "1:", "1:"),
			backoff: slices.Repeat([]string{"tikvServerBusy"}, 4), valid: true},
		{read: leader, answers: []answer{aBusy, aBusy, aNotLeader}, path: one("1:", "1:", "x:", "y:"),
			backoff: []string{"tikvServerBusy", "tikvServerBusy", "regionScheduling"}, valid: true},
	})
	// The probed follower names the real leader: the cache is healed and
	// the next request goes straight to it.
	runChain(t, nil,
		accessCase{read: leader, answers: []answer{aBusy, aBusy, aNotLeaderTo(3)}, path: one("1:", "1:", "2:", "3:"),
			backoff: []string{"tikvServerBusy", "tikvServerBusy"}, valid: true},
		accessCase{read: leader, path: one("3:"), valid: true},
	)
}

// TestReplicaReadAccessPathByFlashbackInProgressCase ports client-go's
// TestReplicaReadAccessPathByFlashbackInProgressCase
// (internal/locate/replica_selector_test.go).
func TestReplicaReadAccessPathByFlashbackInProgressCase(t *testing.T) {
	runCases(t, []accessCase{
		{read: leader, timeout: time.Second, answers: []answer{aFlashback}, path: one("1:"), err: "fatal:FlashbackInProgress", valid: true},
		{read: leader, timeout: time.Second, answers: []answer{aDeadline, aFlashback, aFlashback}, path: one("1:", "x:r", "y:r"),
			err: "noReplica", valid: true},
		{read: mixed, timeout: time.Second, answers: []answer{aDeadline, aFlashback, aFlashback}, path: one("1:", "x:r", "y:r"),
			err: "noReplica", valid: true, when: func(p []string) bool { return p[0] == "1:" }},
	})
	// A flashback met by a mixed read on the leader is final.
	runCases(t, []accessCase{{read: mixed, answers: []answer{aFlashback}, path: one("1:"), err: "fatal:FlashbackInProgress", valid: true,
		when: func(p []string) bool { return p[0] == "1:" }}})
}

// TestReplicaReadAccessPathByLearnerCase ports client-go's
// TestReplicaReadAccessPathByLearnerCase
// (internal/locate/replica_selector_test.go): a learner read goes to the
// learner; when it is busy another replica serves.
//
// It also ports client-go's TestLearnerReplicaSelector
// (internal/locate/region_request3_test.go): a learner read's first target
// is the learner.
func TestReplicaReadAccessPathByLearnerCase(t *testing.T) {
	repeat(t, "learner", func(t *testing.T) bool {
		h := accessHarness(t)
		id, err := h.mock.AddStore()
		if err != nil {
			t.Fatal(err)
		}
		if err := h.mock.SetStoreLabels(id, map[string]string{"id": fmt.Sprint(id)}); err != nil {
			t.Fatal(err)
		}
		if err := h.mock.AddLearner(h.regionID("key"), id); err != nil {
			t.Fatal(err)
		}
		h.cache.Invalidate(h.region("key"))
		h.region("key")
		// client-go's pinned tie-break picks the leader after the learner;
		// the leader and the voters score alike in learner mode, so tikvgo
		// may pick any of them (a replica read unless it is the leader).
		l := fmt.Sprintf("%d:r", id)
		return runAccess(t, h, accessCase{read: learner, answers: []answer{aBusy},
			path: [][]string{{l, "1:"}, {l, "2:r"}, {l, "3:r"}}, valid: true})
	})
}

// TestReplicaReadAvoidSlowStore ports client-go's
// TestReplicaReadAvoidSlowStore with the client-side slow score (a
// ServerIsBusy without estimated wait marks a store slow; tikvgo has no
// TiKV-side slow score) (internal/locate/replica_selector_test.go): leader on
// store 3, store 1 slow.
func TestReplicaReadAvoidSlowStore(t *testing.T) {
	slow := func(h *harness) {
		h.transferLeader("key", 3)
		h.cache.ReportBusy(1, 0)
	}
	for _, stale := range []bool{false, true} {
		flag := "r"
		if stale {
			flag = "s"
		}
		// Without a label a slow store is avoided.
		runChain(t, slow, accessCase{read: mixed, stale: stale,
			path: [][]string{{"2:" + flag}, {"3:" + map[bool]string{false: "", true: "s"}[stale]}}, valid: true})
		// With store 1's label, the leader is preferred over the slow
		// matching store.
		runChain(t, slow, accessCase{read: mixed, stale: stale, label: "1",
			path: one("3:" + map[bool]string{false: "", true: "s"}[stale]), valid: true})
		// Not slow, with the label: store 1 first; a busy answer moves to the
		// leader (stale reads fall back to a leader read).
		runChain(t, leaderOn(3), accessCase{read: mixed, stale: stale, label: "1", answers: []answer{aBusy},
			path: one("1:"+flag, "3:"), valid: true})
	}
}
