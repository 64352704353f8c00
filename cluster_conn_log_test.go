package tikv_test

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
)

// TestConnStateChangesAreLogged: the cluster's logger gets one line per
// gRPC connection state change (the event log beside the connection-state
// gauge): the connection to the store becoming READY at INFO, the store
// going away as a TRANSIENT_FAILURE warning once its connection retries,
// and SHUTDOWN when the cluster closes, each naming the store's address.
func TestConnStateChangesAreLogged(t *testing.T) {
	mock := mocktikv.Start(t)
	h := &recordingHandler{}
	cluster, err := tikv.Connect(t.Context(), mock.PDAddrs(), tikv.WithLogger(slog.New(h)))
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.NewClient(cluster).Put(t.Context(), []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	id := mock.StoreIDs()[0]
	addr := mock.StoreAddr(id)
	has := func(level slog.Level, state string) bool {
		return slices.Contains(h.messages(level), "tikv: gRPC connection to "+addr+" is "+state)
	}
	waitFor := func(level slog.Level, state string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !has(level, state) {
			if time.Now().After(deadline) {
				t.Fatalf("no %v line for %s (%s); lines: %s", level, state, addr,
					strings.Join(append(h.messages(slog.LevelInfo), h.messages(slog.LevelWarn)...), "; "))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor(slog.LevelInfo, "READY")
	if err := mock.StopStore(id); err != nil {
		t.Fatal(err)
	}
	waitFor(slog.LevelWarn, "TRANSIENT_FAILURE")
	if err := cluster.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(slog.LevelInfo, "SHUTDOWN")
}
