package transport

import (
	"fmt"
	"math"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// neverCmd is a Cmd no command ever gets: Describe stops one short of it.
const neverCmd = Cmd(math.MaxUint16)

func allCmds() []Cmd {
	cmds := make([]Cmd, 0, cmdCount-1)
	for c := CmdInvalid + 1; c < cmdCount; c++ {
		cmds = append(cmds, c)
	}
	return cmds
}

// tikvServiceMethods returns the method names of tikvpb.Tikv as the
// generated service descriptor registers them on a gRPC server. The
// descriptor itself (_Tikv_serviceDesc) is unexported; registering is the
// public way to read it.
func tikvServiceMethods(t *testing.T) map[string]bool {
	t.Helper()
	srv := grpc.NewServer()
	defer srv.Stop()
	tikvpb.RegisterTikvServer(srv, &tikvpb.UnimplementedTikvServer{})
	info, ok := srv.GetServiceInfo()["tikvpb.Tikv"]
	require.True(t, ok, "tikvpb.Tikv not registered")
	methods := make(map[string]bool, len(info.Methods))
	for _, m := range info.Methods {
		methods[m.Name] = !m.IsClientStream && !m.IsServerStream
	}
	return methods
}

// tikvServiceDescriptor returns the protobuf descriptor of the tikvpb.Tikv
// service, read from the file descriptor kvproto embeds in its messages.
func tikvServiceDescriptor(t *testing.T) protoreflect.ServiceDescriptor {
	t.Helper()
	file := protoadapt.MessageV2Of(&tikvpb.BatchCommandsRequest{}).ProtoReflect().Descriptor().ParentFile()
	svc := file.Services().ByName("Tikv")
	require.NotNil(t, svc, "service Tikv not in %s", file.Path())
	return svc
}

func messageName(m Message) protoreflect.FullName {
	return protoadapt.MessageV2Of(m).ProtoReflect().Descriptor().FullName()
}

func TestCmdNames(t *testing.T) {
	seen := make(map[string]Cmd)
	for _, c := range allCmds() {
		name := c.String()
		require.NotEmpty(t, name, "Cmd(%d)", uint16(c))
		require.NotEqual(t, "Cmd(", name[:min(4, len(name))], "Cmd(%d) has no name", uint16(c))
		prev, dup := seen[name]
		require.False(t, dup, "%s and Cmd(%d) share the name %q", prev, uint16(c), name)
		seen[name] = c
		require.Equal(t, "/tikvpb.Tikv/"+name, c.FullMethod())
	}
}

func TestCmdInvalid(t *testing.T) {
	for _, c := range []Cmd{CmdInvalid, neverCmd} {
		require.False(t, c.Valid())
		require.Equal(t, fmt.Sprintf("Cmd(%d)", uint16(c)), c.String())
		require.Panics(t, func() { _ = c.FullMethod() })
		require.Panics(t, func() { _ = c.NewRequest() })
	}
}

func TestCmdFullMethodInServiceDescriptor(t *testing.T) {
	methods := tikvServiceMethods(t)
	for _, c := range allCmds() {
		unary, ok := methods[c.String()]
		assert.True(t, ok, "%s: %s is not a method of tikvpb.Tikv", c, c.FullMethod())
		assert.True(t, unary, "%s is a streaming method", c.FullMethod())
	}
}

func TestCmdMessageTypesMatchDescriptor(t *testing.T) {
	svc := tikvServiceDescriptor(t)
	for _, c := range allCmds() {
		m := svc.Methods().ByName(protoreflect.Name(c.String()))
		if !assert.NotNil(t, m, "%s not in the Tikv service descriptor", c) {
			continue
		}
		assert.Equal(t, m.Input().FullName(), messageName(c.NewRequest()), "%s request type", c)
		assert.Equal(t, m.Output().FullName(), messageName(c.NewResponse()), "%s response type", c)
	}
}

func TestCmdRawGetTypes(t *testing.T) {
	require.IsType(t, &kvrpcpb.RawGetRequest{}, CmdRawGet.NewRequest())
	require.IsType(t, &kvrpcpb.RawGetResponse{}, CmdRawGet.NewResponse())
	require.Equal(t, protoreflect.FullName("kvrpcpb.RawGetRequest"), messageName(CmdRawGet.NewRequest()))
	// Each call allocates a new message.
	require.NotSame(t, CmdRawGet.NewRequest(), CmdRawGet.NewRequest())
}

func TestCmdIsWrite(t *testing.T) {
	for c, want := range map[Cmd]bool{
		CmdGet: false, CmdScan: false, CmdBatchGet: false, CmdRawGet: false, CmdRawScan: false,
		CmdPrewrite: true, CmdCommit: true, CmdRawPut: true, CmdRawCompareAndSwap: true,
		CmdPessimisticLock: true, CmdResolveLock: true, CmdCoprocessor: false,
	} {
		require.Equal(t, want, c.IsWrite(), "%s", c)
	}
}

// TestCmdWithContextCopies: attaching a Context returns a new message
// carrying it, and attaching the next attempt's Context to the original
// again returns another; the original never changes.
//
// ports client-go's TestAttachContextSetsRequestContext
// (tikvrpc/tikvrpc_test.go)
func TestCmdWithContextCopies(t *testing.T) {
	orig := &kvrpcpb.Context{RegionId: 1}
	req := &kvrpcpb.RawGetRequest{Context: orig, Key: []byte("k"), Cf: "default"}
	next := &kvrpcpb.Context{RegionId: 2, Peer: &metapb.Peer{Id: 3, StoreId: 4}}

	out := CmdRawGet.WithContext(req, next)

	cp, ok := out.(*kvrpcpb.RawGetRequest)
	require.True(t, ok)
	require.NotSame(t, req, cp)
	require.Same(t, next, cp.Context)
	require.Same(t, next, CmdRawGet.Context(cp))
	require.Equal(t, []byte("k"), cp.Key)
	require.Equal(t, "default", cp.Cf)
	// The original is untouched and can be reused for the next attempt.
	require.Same(t, orig, req.Context)
	require.Equal(t, uint64(1), req.Context.RegionId)
	require.Same(t, orig, CmdRawGet.Context(req))
}

func TestCmdWithContextEveryCmd(t *testing.T) {
	for _, c := range allCmds() {
		req := c.NewRequest()
		ctx := &kvrpcpb.Context{RegionId: 9}
		out := c.WithContext(req, ctx)
		require.IsType(t, req, out, "%s", c)
		if !c.HasContext() {
			require.Same(t, req, out, "%s carries no Context: WithContext must return msg", c)
			require.Nil(t, c.Context(out), "%s", c)
			continue
		}
		require.NotSame(t, req, out, "%s", c)
		require.Same(t, ctx, c.Context(out), "%s", c)
		require.Nil(t, c.Context(req), "%s: original modified", c)
	}
}

func TestCmdHasContextMatchesDescriptor(t *testing.T) {
	for _, c := range allCmds() {
		fields := protoadapt.MessageV2Of(c.NewRequest()).ProtoReflect().Descriptor().Fields()
		f := fields.ByName("context")
		hasCtx := f != nil && f.Message() != nil && f.Message().FullName() == "kvrpcpb.Context"
		require.Equal(t, hasCtx, c.HasContext(), "%s", c)
	}
}

func TestCmdByName(t *testing.T) {
	for _, c := range allCmds() {
		got, ok := CmdByName(c.String())
		require.True(t, ok, "%s", c)
		require.Equal(t, c, got)
	}
	for _, name := range []string{"", "Nope", "rawget", "/tikvpb.Tikv/RawGet", "Cmd(0)"} {
		got, ok := CmdByName(name)
		require.False(t, ok, "%q", name)
		require.Equal(t, CmdInvalid, got)
	}
}

// TestCopyWithContext: the copy carries its own Context, a copy of the
// original's, and writing it changes neither the caller's message nor its
// Context; a message without a Context gets a zero one; a command without a
// Context is returned as it is, with a Context that goes nowhere.
func TestCopyWithContext(t *testing.T) {
	orig := &kvrpcpb.Context{RegionId: 7, Priority: kvrpcpb.CommandPri_High}
	req := &kvrpcpb.RawGetRequest{Context: orig, Key: []byte("k")}
	msg, c := CmdRawGet.CopyWithContext(req)
	cp := msg.(*kvrpcpb.RawGetRequest)
	if cp == req || cp.Context != c || c == orig {
		t.Fatalf("copy %p (ctx %p), want a new message carrying the returned Context %p, not the original's %p", cp, cp.Context, c, orig)
	}
	if c.RegionId != 7 || c.Priority != kvrpcpb.CommandPri_High || string(cp.Key) != "k" {
		t.Fatalf("copy lost fields: %v", cp)
	}
	c.RegionId = 9
	if orig.RegionId != 7 || req.Context != orig {
		t.Fatal("filling the copy's Context changed the caller's")
	}

	msg, c = CmdRawGet.CopyWithContext(&kvrpcpb.RawGetRequest{Key: []byte("k")})
	if msg.(*kvrpcpb.RawGetRequest).Context != c || c.RegionId != 0 {
		t.Fatalf("a message without a Context: got %v", msg)
	}

	var noCtx Cmd
	found := false
	for cmd := CmdInvalid + 1; cmd < cmdCount && !found; cmd++ {
		if cmd.info().fullMethod != "" && !cmd.HasContext() {
			noCtx, found = cmd, true
		}
	}
	if !found {
		t.Fatal("no command without a Context in the table (the store-level ones have none)")
	}
	in := noCtx.NewRequest()
	if out, c := noCtx.CopyWithContext(in); out != in || c == nil {
		t.Fatalf("%v: got %p and %v, want the message itself and a spare Context", noCtx, out, c)
	}
}
