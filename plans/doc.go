// Package plans holds one pipeline.Method per TiKV command tikvgo sends,
// the splitters that route each batched command, and the compiled plan
// sets the clients run (Raw for raw.Client).
//
// A plan set is built once per client from a pipeline.Env and is safe for
// concurrent use.
package plans
