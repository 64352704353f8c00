package tikv

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/tikv/pd/client/opt"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/transport"
)

// An API-version mismatch between the client and the cluster shows up, if
// nothing looks for it, at the first request, as TiKV's
// ApiVersionNotMatched (src/storage/mod.rs, check_api_version). PD does not
// know the storage API version; a store does, and says so on its status
// address: GET /config reports storage.api-version (1 or 2) and
// storage.enable-ttl (TiKV's src/storage/config.rs; client-go's
// integration tests read it the same way). So Connect asks PD for the
// stores (one GetAllStores on the PD connection it already has) and one
// TiKV store for its /config: one small HTTP request, bounded by
// apiVersionProbeTimeout. Only a definite answer fails Connect; a store
// whose status address cannot be reached or read leaves the check to the
// first request, as before, and is logged at Debug.
//
// A gRPC probe was the alternative: a raw request that TiKV would refuse
// with ApiVersionNotMatched. But it needs a key in a region and a region
// lookup, depends on TiKV checking the version before the region, and a raw
// request cannot tell V1 from V1TTL storage; /config answers exactly.

// apiVersionProbeTimeout bounds the /config request: a status port behind
// a firewall that drops packets must not hold Connect for long.
const apiVersionProbeTimeout = time.Second

// storeConfig is the part of a TiKV's /config that tells its storage API
// version (TiKV's kebab-case names).
type storeConfig struct {
	Storage struct {
		APIVersion int  `json:"api-version"`
		EnableTTL  bool `json:"enable-ttl"`
	} `json:"storage"`
}

// checkAPIVersion fails with a *kv.APIVersionMismatchError when a TiKV
// store's configuration rules out the client's API version. It runs only
// when the cluster talks to stores over gRPC (not through WithTransport).
func (c *Cluster) checkAPIVersion(ctx context.Context, cfg config) error {
	stores, err := c.pd.GetAllStores(ctx, opt.WithExcludeTombstone())
	if err != nil {
		c.log.DebugContext(ctx, "tikv: API version check skipped: listing stores failed", "error", err)
		return nil
	}
	store := probeStore(stores)
	if store == nil {
		c.log.DebugContext(ctx, "tikv: API version check skipped: no TiKV store with a status address")
		return nil
	}
	storage, err := readStorageAPIVersion(ctx, cfg.security, store.GetStatusAddress())
	if err != nil {
		c.log.DebugContext(ctx, "tikv: API version check skipped: reading a store's config failed",
			"store", store.GetId(), "status", store.GetStatusAddress(), "error", err)
		return nil
	}
	if compatibleAPIVersion(cfg.apiVersion, storage) {
		return nil
	}
	return &kv.APIVersionMismatchError{Client: cfg.apiVersion, Storage: storage, StoreID: store.GetId(), StatusAddr: store.GetStatusAddress()}
}

// compatibleAPIVersion says whether storage running storage serves
// requests declaring client (TiKV's check_api_version): V1 and V1TTL
// storage serve V1 requests (V1TTL only raw ones, but a Cluster serves raw
// and transactional clients alike, so that is left to the request); V2
// storage serves V2 requests (V1 ones only for TiDB's own keys).
func compatibleAPIVersion(client, storage kvrpcpb.APIVersion) bool {
	if client == kvrpcpb.APIVersion_V2 {
		return storage == kvrpcpb.APIVersion_V2
	}
	return storage != kvrpcpb.APIVersion_V2
}

// probeStore picks the store to ask: the first one that is up, is a TiKV
// (TiFlash stores carry the label engine=tiflash and report another
// configuration), and has a status address.
func probeStore(stores []*metapb.Store) *metapb.Store {
	for _, s := range stores {
		if s.GetState() != metapb.StoreState_Up || s.GetStatusAddress() == "" || isTiFlash(s) {
			continue
		}
		return s
	}
	return nil
}

func isTiFlash(s *metapb.Store) bool {
	for _, l := range s.GetLabels() {
		if l.GetKey() == "engine" && (l.GetValue() == "tiflash" || l.GetValue() == "tiflash_compute") {
			return true
		}
	}
	return false
}

// readStorageAPIVersion reads storage.api-version from the store's status
// address, over TLS with the cluster's files when WithSecurity is set (a
// TiKV's status server uses its security settings too).
func readStorageAPIVersion(ctx context.Context, sec *security, statusAddr string) (kvrpcpb.APIVersion, error) {
	ctx, cancel := context.WithTimeout(ctx, apiVersionProbeTimeout)
	defer cancel()
	scheme := "http"
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	if sec != nil && sec.ca != "" {
		tlsCfg, err := transport.LoadTLS(sec.ca, sec.cert, sec.key)
		if err != nil {
			return 0, err
		}
		scheme, tr.TLSClientConfig = "https", tlsCfg
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+statusAddr+"/config", nil)
	if err != nil {
		return 0, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /config: %s", resp.Status)
	}
	var sc storeConfig
	// A TiKV's whole configuration is tens of kilobytes; bound it anyway.
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&sc); err != nil {
		return 0, fmt.Errorf("GET /config: %w", err)
	}
	switch sc.Storage.APIVersion {
	case 1:
		if sc.Storage.EnableTTL {
			return kvrpcpb.APIVersion_V1TTL, nil
		}
		return kvrpcpb.APIVersion_V1, nil
	case 2:
		return kvrpcpb.APIVersion_V2, nil
	}
	return 0, fmt.Errorf("GET /config: storage.api-version %d", sc.Storage.APIVersion)
}
