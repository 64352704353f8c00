package raw_test

// The cases of client-go's integration_tests/raw/api_mock_test.go
// (testRawKVSuite), run against mocktikv in-process with the same data and
// splits.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
)

type rawSuite struct {
	t      *testing.T
	mock   *mocktikv.Cluster
	client *raw.Client
}

func newRawSuite(t *testing.T) *rawSuite {
	mock, _, client := connectInProcess(t, []mocktikv.Option{mocktikv.WithStores(1)})
	return &rawSuite{t: t, mock: mock, client: client}
}

func (s *rawSuite) put(k, v string) {
	s.t.Helper()
	if err := s.client.Put(context.Background(), []byte(k), []byte(v)); err != nil {
		s.t.Fatalf("Put(%q): %v", k, err)
	}
}

// split splits the region holding at at the key at, as client-go's
// s.split(regionKey, splitKey) does.
func (s *rawSuite) split(at string) {
	s.t.Helper()
	if _, err := s.mock.Split([]byte(at)); err != nil {
		s.t.Fatalf("split at %q: %v", at, err)
	}
}

func collect(t *testing.T, seq func(func(kv.KeyValue, error) bool)) []string {
	t.Helper()
	var out []string
	for p, err := range seq {
		if err != nil {
			t.Fatalf("scan: %v", err)
		}
		out = append(out, string(p.Key), string(p.Value))
	}
	return out
}

func TestAPIMockSimple(t *testing.T) {
	s := newRawSuite(t)
	ctx := context.Background()
	if _, err := s.client.Get(ctx, []byte("key")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Get = %v", err)
	}
	s.put("key", "value")
	if v, err := s.client.Get(ctx, []byte("key")); err != nil || string(v) != "value" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if err := s.client.Delete(ctx, []byte("key")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.Get(ctx, []byte("key")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Get after Delete = %v", err)
	}
	if err := s.client.Put(ctx, []byte("key"), []byte("")); err != nil {
		t.Fatalf("empty value is legal: %v", err)
	}
}

func TestAPIMockRawBatch(t *testing.T) {
	s := newRawSuite(t)
	ctx := context.Background()
	var keys, values [][]byte
	size := 0
	for i := 0; size/(16<<10) < 4; i++ {
		k, v := fmt.Sprint("key", i), fmt.Sprint("value", i)
		keys, values = append(keys, []byte(k)), append(values, []byte(v))
		size += len(k) + len(v)
	}
	s.split(fmt.Sprint("key", len(keys)/2))
	if err := s.client.BatchPut(ctx, keys, values); err != nil {
		t.Fatal(err)
	}
	got, err := s.client.BatchGet(ctx, keys)
	if err != nil || !slices.EqualFunc(got, values, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Fatalf("BatchGet: %v", err)
	}
	if err := s.client.BatchDelete(ctx, keys); err != nil {
		t.Fatal(err)
	}
	got, err = s.client.BatchGet(ctx, keys)
	if err != nil || slices.ContainsFunc(got, func(v []byte) bool { return v != nil }) {
		t.Fatalf("BatchGet after BatchDelete: %v", err)
	}
}

func TestAPIMockSplit(t *testing.T) {
	s := newRawSuite(t)
	s.put("k1", "v1")
	s.put("k3", "v3")
	s.split("k2")
	for k, want := range map[string]string{"k1": "v1", "k3": "v3"} {
		if v, err := s.client.Get(context.Background(), []byte(k)); err != nil || string(v) != want {
			t.Fatalf("Get(%s) = %q, %v", k, v, err)
		}
	}
}

func TestAPIMockScan(t *testing.T) {
	s := newRawSuite(t)
	for _, k := range []string{"1", "3", "5", "7"} {
		s.put("k"+k, "v"+k)
	}
	ctx := context.Background()
	check := func() {
		t.Helper()
		for _, tc := range []struct {
			start, end string
			limit      int
			want       []string
		}{
			{"", "", 1, []string{"k1", "v1"}},
			{"k1", "", 2, []string{"k1", "v1", "k3", "v3"}},
			{"", "", 10, []string{"k1", "v1", "k3", "v3", "k5", "v5", "k7", "v7"}},
			{"k2", "", 2, []string{"k3", "v3", "k5", "v5"}},
			{"k2", "", 3, []string{"k3", "v3", "k5", "v5", "k7", "v7"}},
			{"", "k1", 1, nil},
			{"k1", "k3", 2, []string{"k1", "v1"}},
			{"k1", "k5", 10, []string{"k1", "v1", "k3", "v3"}},
			{"k1", "k5\x00", 10, []string{"k1", "v1", "k3", "v3", "k5", "v5"}},
			{"k5\x00", "k5\x00\x00", 10, nil},
		} {
			got := collect(t, s.client.Scan(ctx, []byte(tc.start), []byte(tc.end), tc.limit))
			if !slices.Equal(got, tc.want) {
				t.Errorf("Scan(%q, %q, %d) = %v, want %v", tc.start, tc.end, tc.limit, got, tc.want)
			}
		}
	}
	check()
	s.split("k2")
	check()
	s.split("k5")
	check()
}

func TestAPIMockReverseScan(t *testing.T) {
	s := newRawSuite(t)
	for _, k := range []string{"1", "3", "5", "7"} {
		s.put("k"+k, "v"+k)
	}
	ctx := context.Background()
	check := func() {
		t.Helper()
		// client-go returns nothing for an empty upper bound; tikvgo
		// reports it (see ReverseScan).
		for _, err := range s.client.ReverseScan(ctx, []byte(""), nil, 10) {
			if !errors.Is(err, kv.ErrInvalidArgument) {
				t.Errorf("ReverseScan from \"\" = %v, want ErrInvalidArgument", err)
			}
		}
		for _, tc := range []struct {
			start, end string
			limit      int
			want       []string
		}{
			{"z", "", 1, []string{"k7", "v7"}},
			{"z", "", 2, []string{"k7", "v7", "k5", "v5"}},
			{"z", "", 10, []string{"k7", "v7", "k5", "v5", "k3", "v3", "k1", "v1"}},
			{"k2", "", 10, []string{"k1", "v1"}},
			{"k6", "", 2, []string{"k5", "v5", "k3", "v3"}},
			{"k5", "", 1, []string{"k3", "v3"}},
			{"k5\x00", "", 1, []string{"k5", "v5"}},
			{"k6", "", 3, []string{"k5", "v5", "k3", "v3", "k1", "v1"}},
			{"z", "k3", 10, []string{"k7", "v7", "k5", "v5", "k3", "v3"}},
			{"k7", "k3\x00", 10, []string{"k5", "v5"}},
		} {
			got := collect(t, s.client.ReverseScan(ctx, []byte(tc.start), []byte(tc.end), tc.limit))
			if !slices.Equal(got, tc.want) {
				t.Errorf("ReverseScan(%q, %q, %d) = %v, want %v", tc.start, tc.end, tc.limit, got, tc.want)
			}
		}
	}
	check()
	s.split("k2")
	check()
	s.split("k5")
	check()
}

func TestAPIMockDeleteRange(t *testing.T) {
	s := newRawSuite(t)
	ctx := context.Background()
	data := map[string]string{}
	for _, i := range []byte("abcd") {
		for j := byte('0'); j <= '9'; j++ {
			k, v := string([]byte{i, j}), string([]byte{'v', i, j})
			s.put(k, v)
			data[k] = v
		}
	}
	s.split("b")
	s.split("c")
	s.split("d")
	check := func() {
		t.Helper()
		got := map[string]string{}
		for p, err := range s.client.Scan(ctx, []byte("a"), []byte("z"), 0) {
			if err != nil {
				t.Fatal(err)
			}
			got[string(p.Key)] = string(p.Value)
		}
		if !maps.Equal(got, data) {
			t.Fatalf("data = %v, want %v", got, data)
		}
	}
	check()
	for _, r := range [][2]string{{"b", "c0"}, {"c11", "c12"}, {"d0", "d0"}, {"c5", "d5"}, {"a", "z"}} {
		if err := s.client.DeleteRange(ctx, []byte(r[0]), []byte(r[1])); err != nil {
			t.Fatalf("DeleteRange(%q, %q): %v", r[0], r[1], err)
		}
		for k := range data {
			if k >= r[0] && k < r[1] {
				delete(data, k)
			}
		}
		check()
	}
}
