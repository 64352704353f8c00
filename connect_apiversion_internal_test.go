package tikv

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
)

// readStorageAPIVersion reads TiKV's /config as TiKV writes it, and
// reports what it cannot read as an error (which Connect only logs).
func TestReadStorageAPIVersion(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   kvrpcpb.APIVersion
		errHas string
	}{
		{200, `{"log-level":"info","storage":{"data-dir":"/d","api-version":1,"enable-ttl":false}}`, kvrpcpb.APIVersion_V1, ""},
		{200, `{"storage":{"api-version":1,"enable-ttl":true}}`, kvrpcpb.APIVersion_V1TTL, ""},
		{200, `{"storage":{"api-version":2,"enable-ttl":true}}`, kvrpcpb.APIVersion_V2, ""},
		{200, `{"storage":{}}`, 0, "api-version 0"},
		{200, `not json`, 0, "invalid character"},
		{404, ``, 0, "404"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/config" {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(tc.status)
			_, _ = w.Write([]byte(tc.body))
		}))
		got, err := readStorageAPIVersion(t.Context(), nil, strings.TrimPrefix(srv.URL, "http://"))
		srv.Close()
		if tc.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("body %q status %d: err %v, want one containing %q", tc.body, tc.status, err, tc.errHas)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("body %q: %s, %v, want %s", tc.body, got, err, tc.want)
		}
	}
}

// The probe asks an up TiKV store with a status address, never TiFlash.
func TestProbeStorePicksATiKV(t *testing.T) {
	tiflash := &metapb.Store{Id: 1, State: metapb.StoreState_Up, StatusAddress: "a:1",
		Labels: []*metapb.StoreLabel{{Key: "engine", Value: "tiflash"}}}
	offline := &metapb.Store{Id: 2, State: metapb.StoreState_Offline, StatusAddress: "b:1"}
	noStatus := &metapb.Store{Id: 3, State: metapb.StoreState_Up}
	tikv := &metapb.Store{Id: 4, State: metapb.StoreState_Up, StatusAddress: "d:1"}
	if got := probeStore([]*metapb.Store{tiflash, offline, noStatus, tikv}); got != tikv {
		t.Fatalf("probeStore picked %v, want store 4", got)
	}
	if got := probeStore([]*metapb.Store{tiflash, noStatus}); got != nil {
		t.Fatalf("probeStore picked %v, want none", got)
	}
}
