package kv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestKeyNextAndPrefixNext(t *testing.T) {
	if got := Key("ab").Next(); string(got) != "ab\x00" {
		t.Fatalf("Next = %q", got)
	}
	k := Key("ab")
	_ = k.Next()
	if string(k) != "ab" {
		t.Fatalf("Next modified its receiver: %q", k)
	}
	for _, tc := range []struct{ in, want string }{
		{"ab", "ac"},
		{"a\xff", "b"},
		{"\xff\xff", ""},
		{"", ""},
	} {
		if got := Key(tc.in).PrefixNext(); string(got) != tc.want {
			t.Errorf("PrefixNext(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	in := Key("a\xff")
	_ = in.PrefixNext()
	if string(in) != "a\xff" {
		t.Fatalf("PrefixNext modified its receiver")
	}
}

func TestKeyRangeContains(t *testing.T) {
	r := KeyRange{Start: Key("b"), End: Key("d")}
	for k, want := range map[string]bool{"a": false, "b": true, "c": true, "d": false} {
		if r.Contains([]byte(k)) != want {
			t.Errorf("Contains(%q) = %v", k, !want)
		}
	}
	if !InRange([]byte("zzz"), []byte("b"), nil) {
		t.Error("empty end must be unbounded")
	}
}

func TestKeyClone(t *testing.T) {
	if Key(nil).Clone() != nil || string(Key("x").Clone()) != "x" {
		t.Fatal("Clone")
	}
}

func TestUndeterminedWrapsCause(t *testing.T) {
	cause := fmt.Errorf("send: %w", context.DeadlineExceeded)
	err := Undetermined(cause)
	if !errors.Is(err, ErrUndetermined) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "undetermined") || !strings.Contains(err.Error(), "send") {
		t.Fatalf("message = %q", err)
	}
}

func TestInvalidArgument(t *testing.T) {
	err := InvalidArgument("bad %s", "thing")
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "bad thing") {
		t.Fatalf("err = %v", err)
	}
}

func TestRegionErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		e    *errorpb.Error
		want string
	}{
		{nil, "None"},
		{&errorpb.Error{NotLeader: &errorpb.NotLeader{}}, "NotLeader"},
		{&errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{}}, "EpochNotMatch"},
		{&errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{}}, "ServerIsBusy"},
		{&errorpb.Error{UndeterminedResult: &errorpb.UndeterminedResult{}}, "UndeterminedResult"},
		{&errorpb.Error{Message: "?"}, "Unknown"},
	} {
		if got := RegionErrorKind(tc.e); got != tc.want {
			t.Errorf("RegionErrorKind = %q, want %q", got, tc.want)
		}
	}
	re := &RegionError{RegionID: 7, Err: &errorpb.Error{RegionNotFound: &errorpb.RegionNotFound{}}}
	if re.Error() != "tikv: region 7: RegionNotFound" {
		t.Fatalf("Error() = %q", re.Error())
	}
}

func TestBackoffExhaustedError(t *testing.T) {
	cause := errors.New("store down")
	e := &BackoffExhaustedError{Policy: "tikvRPC", Attempts: 3, Cause: cause, Stop: context.DeadlineExceeded}
	if !errors.Is(e, cause) || !errors.Is(e, context.DeadlineExceeded) {
		t.Fatal("must wrap cause and stop reason")
	}
	if !strings.Contains(e.Error(), "tikvRPC") || !strings.Contains(e.Error(), "store down") {
		t.Fatalf("message = %q", e.Error())
	}
	noStop := &BackoffExhaustedError{Policy: "p", Cause: cause}
	if !errors.Is(noStop, cause) || !strings.Contains(noStop.Error(), "attempts exhausted") {
		t.Fatalf("message = %q", noStop.Error())
	}
	se := &ServerError{Cmd: "RawPut", Msg: "bad"}
	if se.Error() != "tikv: RawPut: bad" {
		t.Fatalf("ServerError = %q", se.Error())
	}
}
