// Package transport carries one physical attempt of one TiKV command to one
// store.
//
// The seam between tikvgo's plan layer and the wire is the Sender interface:
// the pipeline builds a Request for each attempt and hands it to a Sender,
// which is a chain of Middleware around a terminal sender (the gRPC Pool, or
// mocktikv's in-process server in tests). The contract is the one
// net/http.RoundTripper states for HTTP:
//
//   - A Sender is safe for concurrent use.
//   - A Sender sends at most once. It never retries: retrying is the plan's
//     job, because only the plan knows whether a command is idempotent and
//     which replica to try next.
//   - A middleware may read a Request and may write the kvrpcpb.Context
//     fields it owns (trace id, resource-control context, request source,
//     resource-group tag); it never mutates payload fields. Every attempt
//     has its own shallow copy of the message and its Context, so such
//     writes do not race.
//   - An error wrapping ErrNotSent means the request provably never reached
//     TiKV and is safe to resend even for non-idempotent commands. Any other
//     error means the outcome is unknown.
//
// A Sender that can also send without blocking for the answer is an
// AsyncSender (the Pool is one; see SendAsync, Around, OnExecutor and
// RunLoop): the same contract, with the outcome delivered to a callback
// exactly once.
//
// A command is a Cmd: one of the built-in commands (every RPC of tikvpb.Tikv
// tikvgo sends), or one Describe made for an RPC the table lacks, which
// then travels through plans, middleware and the Pool like any other
// (always as a unary call).
package transport
