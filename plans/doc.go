// Package plans holds one pipeline.Method per TiKV command tikvgo sends
// (raw_methods.go, txn_methods.go, admin_methods.go: each says whether it
// reads and whether it is safe to resend, and why), the standard error
// mappers a Method's Err is built from (KeyError and its kin for
// transactional key errors, StringErr and PairsErr for error strings,
// RegionError for region errors), the splitters that route each batched
// command, and the compiled plan sets the clients run (Raw for
// raw.Client). A command the table lacks is described with
// transport.Describe and bound to a pipeline.Method the same way.
//
// A plan set is built once per client from a pipeline.Env and is safe for
// concurrent use.
package plans
