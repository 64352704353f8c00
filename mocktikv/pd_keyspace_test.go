package mocktikv

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/keyspacepb"

	"github.com/tikvgo/tikv/internal/codec"
)

func TestKeyspaces(t *testing.T) {
	c := Start(t, WithKeyspace("ks1"), WithKeyspace("ks2"), WithKeyspace("ks1"), WithKeyspace(DefaultKeyspaceName))
	cli := newPDClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, tc := range []struct {
		name   string
		wantID uint32
	}{
		{DefaultKeyspaceName, DefaultKeyspaceID},
		{"ks1", 1},
		{"ks2", 2},
	} {
		m := must(cli.LoadKeyspace(ctx, tc.name))(t)
		eq(t, m.GetId(), tc.wantID, "id of %s", tc.name)
		eq(t, m.GetName(), tc.name, "name")
		eq(t, m.GetState(), keyspacepb.KeyspaceState_ENABLED, "state of %s", tc.name)
		byID := must(cli.LoadKeyspaceByID(ctx, tc.wantID))(t)
		eqProto(t, byID, m, "by id")
	}
	if _, err := cli.LoadKeyspace(ctx, "nope"); err == nil || !strings.Contains(err.Error(), "ENTRY_NOT_FOUND") {
		t.Fatalf("unknown keyspace: %v", err)
	}
	if _, err := cli.LoadKeyspaceByID(ctx, 77); err == nil {
		t.Fatal("unknown keyspace id: want an error")
	}

	all := must(cli.GetAllKeyspaces(ctx, 0, 0))(t)
	eq(t, len(all), 3, "keyspaces")
	page := must(cli.GetAllKeyspaces(ctx, 1, 1))(t)
	eq(t, len(page), 1, "page")
	eq(t, page[0].GetName(), "ks1", "page from id 1")
	eq(t, len(must(cli.GetAllKeyspaces(ctx, 3, 0))(t)), 0, "past the last id")

	// PD splits each created keyspace's raw and txn ranges into regions of
	// their own; DEFAULT shares the initial region.
	for _, mode := range []byte{'r', 'x'} {
		for _, id := range []uint32{1, 2} {
			start := codec.EncodeBytes(nil, []byte{mode, 0, 0, byte(id)})
			r, _ := c.RegionByKey(start)
			if !bytes.Equal(r.StartKey, start) {
				t.Fatalf("keyspace %d mode %c: region starts at %x, want %x", id, mode, r.StartKey, start)
			}
			eqBytes(t, r.EndKey, codec.EncodeBytes(nil, []byte{mode, 0, 0, byte(id + 1)}), "keyspace region end")
		}
	}
}
