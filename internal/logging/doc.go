// Package logging holds tikvgo's logging plumbing: the quiet default
// logger (warnings and errors to standard error, repeats rate-limited), the
// rate limiter itself, and the bridge that carries pingcap/log's zap
// records, which is how github.com/tikv/pd/client logs, into log/slog
// handlers.
package logging
