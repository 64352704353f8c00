package mocktikv

import (
	"net/http"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// A TiKV serves an HTTP status API on the address PD lists as the store's
// status_address (TiKV's server/status_server). Clients read its /config:
// client-go's integration tests take storage.api-version from it to tell
// API v2 clusters apart. The mock serves it on the store's gRPC port
// (serve_mux.go), which is the status address its stores report.

// storeConfigBody is the part of TiKV's config /config reports that the
// mock has an equivalent for, under TiKV's kebab-case names. TiKV's
// src/storage/config.rs: api-version is 1 or 2; V1TTL is version 1 with
// enable-ttl, and API V2 forces enable-ttl on.
type storeConfigBody struct {
	Storage struct {
		APIVersion int  `json:"api-version"`
		EnableTTL  bool `json:"enable-ttl"`
	} `json:"storage"`
}

// storeStatusHandler serves a store's status API: GET /config, and
// GET /status, which TiKV answers with 200 and an empty body when it is
// up.
func (c *Cluster) storeStatusHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, _ *http.Request) {
		var body storeConfigBody
		body.Storage.APIVersion = 1
		switch c.APIVersion() {
		case kvrpcpb.APIVersion_V2:
			body.Storage.APIVersion, body.Storage.EnableTTL = 2, true
		case kvrpcpb.APIVersion_V1TTL:
			body.Storage.EnableTTL = true
		}
		writeJSON(w, http.StatusOK, body)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	return mux
}
