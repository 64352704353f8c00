package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRawTour runs the tour on the embedded mocktikv, in API V1 (with TTLs)
// and V2, and checks what it reports.
func TestRawTour(t *testing.T) {
	for _, v2 := range []bool{false, true} {
		name := "v1ttl"
		if v2 {
			name = "v2"
		}
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			if err := run(&out, "", v2); err != nil {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			want := []string{
				"started mocktikv",
				"get tour/apple = red",
				`get tour/empty = "" (found: true)`,
				"after delete: not found = true",
				`batch get banana, plum, none = ["last wins" "7" ""] (a missing key is nil: true)`,
				"scan [tour/c, tour/p) limit 4: cherry=1 grape=2 kiwi=3 lemon=4",
				"reverse scan below tour/p, key only, limit 3: mango lemon kiwi",
				"stopped an unlimited scan after 2 pairs",
				"or less (TiKV counts whole seconds)",
				"tour/t2 has no TTL: true",
				"GetKeyTTL of a missing key: not found = true",
				"CAS needs atomic mode",
				"create if absent: swapped=true (old value nil: true)",
				"wrong expectation: swapped=false, current value owner-1",
				"retry with the value seen: swapped=true",
				"checksum of tour/: 13 pairs",
				"after deleting [tour/a, tour/m): 6 pairs",
				"follower read of tour/plum = 7",
				"Delete with a TTL: invalid argument = true",
			}
			if v2 {
				want = append(want, "this cluster takes no column family names (API v2)")
			} else {
				want = append(want, `tour/apple: "in the write CF" in write, "red" in default`)
			}
			for _, w := range want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
