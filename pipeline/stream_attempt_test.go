package pipeline

import (
	"slices"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// A new page of a scan is a new request, never sent before: its first
// attempt must not be marked is_retry_request.
func TestStreamNewPageIsNotARetry(t *testing.T) {
	c := newFakeCluster()
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		c.truth.KV().Put(k, "v")
	}
	if got := scanAll(t, c.env(), &kvrpcpb.RawScanRequest{}, 0); len(got) != 5 {
		t.Fatalf("scan got %v", got)
	}
	if got, want := attemptInfo(c.rec.Requests()), []string{"1:0", "1:0"}; !slices.Equal(got, want) {
		t.Fatalf("attempts = %v, want %v", got, want)
	}
}
