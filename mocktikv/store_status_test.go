package mocktikv

import (
	"io"
	"net/http"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestStoreStatusConfig reads storage.api-version the way client-go's
// integration tests do: the store's status_address from PD, then GET
// http://<status_address>/config.
func TestStoreStatusConfig(t *testing.T) {
	for _, tc := range []struct {
		v       kvrpcpb.APIVersion
		wantAPI int
		wantTTL bool
	}{
		{kvrpcpb.APIVersion_V1, 1, false},
		{kvrpcpb.APIVersion_V1TTL, 1, true},
		{kvrpcpb.APIVersion_V2, 2, true},
	} {
		t.Run(tc.v.String(), func(t *testing.T) {
			c := Start(t, WithAPIVersion(tc.v))
			st := pdStore(t, c, c.StoreIDs()[0])
			var cfg struct {
				Storage struct {
					APIVersion int  `json:"api-version"`
					EnableTTL  bool `json:"enable-ttl"`
				} `json:"storage"`
			}
			httpGetJSON(t, &http.Transport{}, "http://"+st.StatusAddress+"/config", &cfg)
			eq(t, cfg.Storage.APIVersion, tc.wantAPI, "storage.api-version")
			eq(t, cfg.Storage.EnableTTL, tc.wantTTL, "storage.enable-ttl")
		})
	}
}

// pdStore is store id as PD reports it over gRPC.
func pdStore(t *testing.T, c *Cluster, id uint64) *metapb.Store {
	t.Helper()
	conn := must(grpc.NewClient(c.PDAddrs()[0], grpc.WithTransportCredentials(insecure.NewCredentials())))(t)
	defer conn.Close()
	st := must(pdpb.NewPDClient(conn).GetStore(testCtx(t), &pdpb.GetStoreRequest{
		Header: &pdpb.RequestHeader{ClusterId: c.ClusterID()}, StoreId: id,
	}))(t).GetStore()
	if st.GetStatusAddress() == "" {
		t.Fatalf("PD reports no status address for store %d", id)
	}
	return st
}

// TestStoreStatusFollowsStore: the status API stops with its store and
// comes back with it, as a TiKV process's status server does; a store
// added while serving gets one too.
func TestStoreStatusFollowsStore(t *testing.T) {
	c := Start(t)
	id := c.StoreIDs()[0]
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	get := func() error {
		resp, err := (&http.Client{Transport: tr}).Get("http://" + c.StoreAddr(id) + "/status")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		eq(t, resp.StatusCode, http.StatusOK, "status")
		return nil
	}
	noErr(t, get())
	noErr(t, c.StopStore(id))
	if err := get(); err == nil {
		t.Fatal("status answered while the store is stopped")
	}
	noErr(t, c.StartStore(id))
	noErr(t, get())

	// A store added while serving has a status address too.
	added := must(c.AddStore())(t)
	eq(t, pdStore(t, c, added).StatusAddress, c.StoreAddr(added), "added store's status address")
	id = added
	noErr(t, get())
}
