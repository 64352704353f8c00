package mocktikv

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// control calls the control API of c: method on path with body (JSON or
// empty); it returns the status code and decodes the answer into out
// when out is not nil.
func control(t *testing.T, c *Cluster, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), method, "http://"+c.PDAddrs()[0]+path, strings.NewReader(body))
	noErr(t, err)
	resp, err := http.DefaultClient.Do(req)
	noErr(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	noErr(t, err)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: answer %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

// rctxOf is the kvrpcpb Context of the region holding key, at its leader.
func rctxOf(c *Cluster, key string) (*kvrpcpb.Context, uint64) {
	r, leader := c.RegionByKey([]byte(key))
	return &kvrpcpb.Context{RegionId: r.GetId(), RegionEpoch: r.GetRegionEpoch(), Peer: leader}, leader.GetStoreId()
}

// TestControlAPIRegions: regions are listed, split (raw and txn keys) and
// led where the API says, and bad input is refused with 400 or 404.
func TestControlAPIRegions(t *testing.T) {
	c := Start(t, WithStores(3), WithControlAPI())
	var regions []controlRegion
	eq(t, control(t, c, "GET", "/mocktikv/v1/regions", "", &regions), http.StatusOK, "list")
	eq(t, len(regions), 1, "regions at start")
	eq(t, len(regions[0].PeerStores), 3, "peers of the first region")

	var split map[string]uint64
	eq(t, control(t, c, "POST", "/mocktikv/v1/split?key="+hex.EncodeToString([]byte("m")), "", &split), http.StatusOK, "split")
	left, _ := c.RegionByKey([]byte("a"))
	eq(t, split["region_id"], left.GetId(), "the new region is the left part (TiKV's right-derive split)")
	eqBytes(t, left.GetEndKey(), []byte("m"), "new region's end")
	r, _ := c.RegionByKey([]byte("n"))
	eqBytes(t, r.GetStartKey(), []byte("m"), "right part's start")
	eq(t, control(t, c, "POST", "/mocktikv/v1/split?txn_key="+hex.EncodeToString([]byte("t")), "", &split), http.StatusOK, "txn split")
	regions = nil
	control(t, c, "GET", "/mocktikv/v1/regions", "", &regions)
	eq(t, len(regions), 3, "regions after two splits")

	eq(t, control(t, c, "POST", fmt.Sprintf("/mocktikv/v1/regions/%d/leader?store=2", r.GetId()), "", nil), http.StatusOK, "transfer leader")
	_, leader := c.RegionByID(r.GetId())
	eq(t, leader.GetStoreId(), uint64(2), "leader after the transfer")

	var msg string
	eq(t, control(t, c, "POST", "/mocktikv/v1/regions/999/leader?store=2", "", &msg), http.StatusNotFound, "unknown region")
	eq(t, control(t, c, "POST", fmt.Sprintf("/mocktikv/v1/regions/%d/leader?store=x", r.GetId()), "", &msg), http.StatusBadRequest, "bad store")
	eq(t, control(t, c, "POST", "/mocktikv/v1/split?key=zz", "", &msg), http.StatusBadRequest, "bad hex")
	eq(t, control(t, c, "POST", "/mocktikv/v1/split", "", &msg), http.StatusBadRequest, "no key")
	eq(t, control(t, c, "POST", "/mocktikv/v1/stores/9/stop", "", &msg), http.StatusNotFound, "unknown store")
}

// TestControlAPIStores: a store stopped through the API refuses
// connections until it is started again, and then serves as before.
func TestControlAPIStores(t *testing.T) {
	c := Start(t, WithStores(1), WithControlAPI())
	ctx := testCtx(t)
	rctx, store := rctxOf(c, "k")
	cli := tikvpb.NewTikvClient(dialConn(t, c, store))
	_, err := cli.RawPut(ctx, &kvrpcpb.RawPutRequest{Context: rctx, Key: []byte("k"), Value: []byte("v")})
	noErr(t, err)

	eq(t, control(t, c, "POST", fmt.Sprintf("/mocktikv/v1/stores/%d/stop", store), "", nil), http.StatusOK, "stop")
	_, err = cli.RawGet(ctx, &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte("k")})
	eq(t, status.Code(err), codes.Unavailable, "RawGet at a stopped store (%v)", err)

	eq(t, control(t, c, "POST", fmt.Sprintf("/mocktikv/v1/stores/%d/start", store), "", nil), http.StatusOK, "start")
	cli = tikvpb.NewTikvClient(dialConn(t, c, store))
	got, err := cli.RawGet(ctx, &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte("k")})
	noErr(t, err)
	eqBytes(t, got.GetValue(), []byte("v"), "value after the restart")
}

// TestControlAPIFaults: faults injected as JSON act as Cluster.Inject's:
// a region error for the next call only, a response lost after the write
// applied, hits counted, removal; invalid faults are refused.
func TestControlAPIFaults(t *testing.T) {
	c := Start(t, WithStores(1), WithControlAPI())
	ctx := testCtx(t)
	rctx, store := rctxOf(c, "k")
	cli := tikvpb.NewTikvClient(dialConn(t, c, store))

	var added map[string]uint64
	busy := `{"cmd": "RawGet", "steps": [{"times": 1, "region_error": {"server_is_busy": {"reason": "control test"}}}]}`
	eq(t, control(t, c, "POST", "/mocktikv/v1/faults", busy, &added), http.StatusOK, "inject busy")
	got, err := cli.RawGet(ctx, &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte("k")})
	noErr(t, err)
	eq(t, got.GetRegionError().GetServerIsBusy().GetReason(), "control test", "first RawGet's region error")
	got, err = cli.RawGet(ctx, &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte("k")})
	noErr(t, err)
	if got.GetRegionError() != nil {
		t.Fatalf("second RawGet: region error %v after a one-time fault", got.GetRegionError())
	}
	var hits map[string]uint64
	eq(t, control(t, c, "GET", fmt.Sprintf("/mocktikv/v1/faults/%d", added["id"]), "", &hits), http.StatusOK, "fault state")
	eq(t, hits["hits"], uint64(1), "hits of the one-time fault")

	lost := fmt.Sprintf(`{"cmd": "RawPut", "key": %q, "steps": [{"lose_response": {"code": "Unavailable", "message": "lost"}}]}`, hex.EncodeToString([]byte("k")))
	eq(t, control(t, c, "POST", "/mocktikv/v1/faults", lost, &added), http.StatusOK, "inject lost response")
	_, err = cli.RawPut(ctx, &kvrpcpb.RawPutRequest{Context: rctx, Key: []byte("k"), Value: []byte("applied")})
	eq(t, status.Code(err), codes.Unavailable, "RawPut with its response lost (%v)", err)
	got, err = cli.RawGet(ctx, &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte("k")})
	noErr(t, err)
	eqBytes(t, got.GetValue(), []byte("applied"), "the lost write applied")

	eq(t, control(t, c, "DELETE", fmt.Sprintf("/mocktikv/v1/faults/%d", added["id"]), "", nil), http.StatusOK, "remove")
	_, err = cli.RawPut(ctx, &kvrpcpb.RawPutRequest{Context: rctx, Key: []byte("k"), Value: []byte("after")})
	noErr(t, err)
	eq(t, control(t, c, "GET", fmt.Sprintf("/mocktikv/v1/faults/%d", added["id"]), "", nil), http.StatusNotFound, "removed fault")

	always := `{"store": 1, "steps": [{"fail": {"code": "Unavailable", "message": "down"}}]}`
	eq(t, control(t, c, "POST", "/mocktikv/v1/faults", always, &added), http.StatusOK, "inject always-fail")
	_, err = cli.RawGet(ctx, &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte("k")})
	eq(t, status.Code(err), codes.Unavailable, "RawGet under an always-fail fault")
	eq(t, control(t, c, "DELETE", "/mocktikv/v1/faults", "", nil), http.StatusOK, "remove all")
	_, err = cli.RawGet(ctx, &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte("k")})
	noErr(t, err)

	var msg string
	for name, body := range map[string]string{
		"two actions":   `{"steps": [{"pass": true, "delay_ms": 5}]}`,
		"no action":     `{"steps": [{"times": 1}]}`,
		"no steps":      `{"cmd": "RawGet"}`,
		"unknown cmd":   `{"cmd": "RawTeleport", "steps": [{"pass": true}]}`,
		"unknown field": `{"steps": [{"pass": true}], "colour": "red"}`,
		"bad code":      `{"steps": [{"fail": {"code": "Sideways"}}]}`,
		"OK code":       `{"steps": [{"fail": {"code": "OK"}}]}`,
		"bad key":       `{"key": "xyz", "steps": [{"pass": true}]}`,
		"not JSON":      `steps`,
	} {
		if code := control(t, c, "POST", "/mocktikv/v1/faults", body, &msg); code != http.StatusBadRequest {
			t.Errorf("%s: status %d (%q), want 400", name, code, msg)
		}
	}
}

// TestControlAPIOff: without WithControlAPI the mock's PD serves no
// control endpoint.
func TestControlAPIOff(t *testing.T) {
	c := Start(t)
	eq(t, control(t, c, "GET", "/mocktikv/v1/regions", "", nil), http.StatusNotFound, "control API without WithControlAPI")
}
