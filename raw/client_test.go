package raw_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
)

func TestPointOperations(t *testing.T) {
	_, _, client := connectInProcess(t, []mocktikv.Option{mocktikv.WithStores(2), mocktikv.WithSplitKeys([]byte("m"))})
	ctx := context.Background()
	if _, err := client.Get(ctx, []byte("a")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Get of a missing key = %v, want ErrNotFound", err)
	}
	if err := client.Put(ctx, []byte("a"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := client.Put(ctx, []byte("a"), []byte("2")); err != nil {
		t.Fatal(err)
	}
	if v, err := client.Get(ctx, []byte("a")); err != nil || string(v) != "2" {
		t.Fatalf("Get after overwrite = %q, %v", v, err)
	}
	if err := client.Delete(ctx, []byte("a")); err != nil {
		t.Fatal(err)
	}
	// An empty value is a value, distinct from a missing key
	// (client-go integration_tests/raw TestSimple).
	if err := client.Put(ctx, []byte("e"), nil); err != nil {
		t.Fatalf("Put of an empty value: %v", err)
	}
	if v, err := client.Get(ctx, []byte("e")); err != nil || v == nil || len(v) != 0 {
		t.Fatalf("Get of an empty value = %q (nil: %v), %v", v, v == nil, err)
	}
	if vs, err := client.BatchGet(ctx, [][]byte{[]byte("e"), []byte("none")}); err != nil || vs[0] == nil || vs[1] != nil {
		t.Fatalf("BatchGet = %q, %v: want an empty value then nil", vs, err)
	}
	if err := client.Delete(ctx, []byte("a")); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
	if _, err := client.Get(ctx, []byte("a")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Get after Delete = %v", err)
	}
}

func TestBatchOperations(t *testing.T) {
	_, _, client := connectInProcess(t, []mocktikv.Option{mocktikv.WithStores(2), mocktikv.WithSplitKeys(key(300), key(600))})
	ctx := context.Background()
	var keys, values [][]byte
	for i := range 1000 {
		keys, values = append(keys, key(i)), append(values, value(i))
	}
	if err := client.BatchPut(ctx, keys, values); err != nil {
		t.Fatal(err)
	}
	// Delete every third key across all regions.
	var gone [][]byte
	for i := 0; i < 1000; i += 3 {
		gone = append(gone, key(i))
	}
	if err := client.BatchDelete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	got, err := client.BatchGet(ctx, append(keys, []byte("missing")))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		want := values[i]
		if i%3 == 0 {
			want = nil
		}
		if !bytes.Equal(got[i], want) {
			t.Fatalf("BatchGet[%d] = %q, want %q", i, got[i], want)
		}
	}
	if got[1000] != nil {
		t.Fatalf("missing key = %q", got[1000])
	}

	// Duplicate keys: the last occurrence wins.
	if err := client.BatchPut(ctx, [][]byte{key(1), key(1)}, [][]byte{[]byte("first"), []byte("last")}); err != nil {
		t.Fatal(err)
	}
	if v, _ := client.Get(ctx, key(1)); string(v) != "last" {
		t.Fatalf("duplicate BatchPut kept %q, want the last value", v)
	}

	// DeleteRange over the middle region and part of its neighbours.
	if err := client.DeleteRange(ctx, key(250), key(650)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for p, err := range client.Scan(ctx, key(0), nil, 0) {
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Compare(p.Key, key(250)) >= 0 && bytes.Compare(p.Key, key(650)) < 0 {
			t.Fatalf("key %q survived DeleteRange", p.Key)
		}
		n++
	}
	if n == 0 {
		t.Fatal("DeleteRange removed keys outside its range")
	}
}

func TestInvalidArguments(t *testing.T) {
	_, _, client := connectInProcess(t, nil)
	ctx := context.Background()
	for name, err := range map[string]error{
		"Get empty key":        func() error { _, err := client.Get(ctx, nil); return err }(),
		"Put empty key":        client.Put(ctx, nil, []byte("v")),
		"Delete empty key":     client.Delete(ctx, []byte{}),
		"BatchPut mismatch":    client.BatchPut(ctx, [][]byte{[]byte("a")}, nil),
		"BatchGet empty key":   func() error { _, err := client.BatchGet(ctx, [][]byte{[]byte("a"), nil}); return err }(),
		"BatchDelete empty":    client.BatchDelete(ctx, [][]byte{nil}),
		"DeleteRange inverted": client.DeleteRange(ctx, []byte("b"), []byte("a")),
		"Scan inverted":        firstErr(client.Scan(ctx, []byte("b"), []byte("a"), 0)),
		"ReverseScan inverted": firstErr(client.ReverseScan(ctx, []byte("a"), []byte("b"), 0)),
		"ReverseScan no upper": firstErr(client.ReverseScan(ctx, nil, []byte("a"), 0)),
	} {
		if !errors.Is(err, kv.ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want ErrInvalidArgument", name, err)
		}
	}
}

func firstErr(seq func(func(kv.KeyValue, error) bool)) error {
	for _, err := range seq {
		if err != nil {
			return err
		}
	}
	return nil
}
