package txn_test

import (
	"sync"
	"testing"

	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// TestPortResourceGroupTag ports client-go's TestResourceGroupTag
// (integration_tests/resource_tag_test.go): a transaction's Get, BatchGet
// and scan carry its resource-group tag (WithTxnResourceGroupTag), or the
// tagger's (WithTxnResourceGroupTagger) when it has none, and the fixed tag
// wins when both are set; each read is one request. The commit of a
// tagged transaction carries the tag too. Both transports.
func TestPortResourceGroupTag(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		p.commit("~resource_tag/k", "v")
		tag1, tag2 := []byte("TEST-TAG-1"), []byte("TEST-TAG-2")
		tagger := func(transport.Cmd, transport.Message) []byte { return tag2 }

		var mu sync.Mutex
		var seen []string // the tags of the reads, in order
		p.mock.OnRequest(func(_ uint64, cmd transport.Cmd, msg transport.Message) {
			switch cmd {
			case transport.CmdGet, transport.CmdBatchGet, transport.CmdScan, transport.CmdPrewrite:
				mu.Lock()
				seen = append(seen, string(cmd.Context(msg).GetResourceGroupTag()))
				mu.Unlock()
			}
		})
		take := func() []string {
			mu.Lock()
			defer mu.Unlock()
			out := seen
			seen = nil
			return out
		}

		for _, c := range []struct {
			name string
			opts []txn.BeginOption
			want string
		}{
			{"tag", []txn.BeginOption{txn.WithTxnResourceGroupTag(tag1)}, "TEST-TAG-1"},
			{"tagger", []txn.BeginOption{txn.WithTxnResourceGroupTagger(tagger)}, "TEST-TAG-2"},
			{"tag and tagger", []txn.BeginOption{txn.WithTxnResourceGroupTag(tag1), txn.WithTxnResourceGroupTagger(tagger)}, "TEST-TAG-1"},
		} {
			reads := map[string]func(tx *txn.Txn) error{
				"get": func(tx *txn.Txn) error { _, err := tx.Get(t.Context(), []byte("~resource_tag/k")); return err },
				"batch get": func(tx *txn.Txn) error {
					_, err := tx.BatchGet(t.Context(), [][]byte{[]byte("~resource_tag/k")})
					return err
				},
				"scan": func(tx *txn.Txn) error {
					_, err := collect(tx.Iter(t.Context(), []byte("~resource_tag/abc"), []byte("~resource_tag/def")))
					return err
				},
			}
			for name, read := range reads {
				tx := p.begin(c.opts...)
				take()
				if err := read(tx); err != nil {
					t.Fatalf("%s, %s: %v", c.name, name, err)
				}
				if got := take(); len(got) != 1 || got[0] != c.want {
					t.Fatalf("%s, %s: request tags %q, want one request tagged %q", c.name, name, got, c.want)
				}
				_ = tx.Rollback()
			}
			tx := p.begin(c.opts...)
			setAll(t, tx, "~resource_tag/w", "v")
			take()
			if err := tx.Commit(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := take(); len(got) != 1 || got[0] != c.want {
				t.Fatalf("%s, commit: prewrite tags %q, want %q", c.name, got, c.want)
			}
		}
	})
}
