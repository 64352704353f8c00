package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer lets a test read what run's progress goroutine writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runJSON runs the command with args against the embedded mocktikv and
// returns the summary it wrote to -json, after checking the text summary
// went to stdout.
func runJSON(t *testing.T, ctx context.Context, args ...string) (*Summary, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "summary.json")
	var stdout, stderr bytes.Buffer
	err := run(ctx, append([]string{"-json", path, "-recordcount", "500", "-loadbatch", "50", "-interval", "20ms"}, args...), &stdout, &stderr)
	doc, rerr := os.ReadFile(path)
	if rerr != nil {
		t.Fatalf("run %q wrote no JSON summary (err %v): %v\nstderr:\n%s", args, err, rerr, stderr.String())
	}
	var s Summary
	if jerr := json.Unmarshal(doc, &s); jerr != nil {
		t.Fatalf("summary is not JSON: %v\n%s", jerr, doc)
	}
	if strings.HasPrefix(stdout.String(), "{") { // -format json
		if stdout.String() != string(doc) {
			t.Errorf("-format json wrote a different document to stdout:\n%s", stdout.String())
		}
	} else if !strings.Contains(stdout.String(), "[RUN]") && s.Run != nil {
		t.Errorf("text summary missing from stdout:\n%s", stdout.String())
	}
	return &s, err
}

// checkConsistent asserts a finished phase's totals are the sums of its
// rows and its rows' errors the sums of their classes.
func checkConsistent(t *testing.T, p *PhaseSummary) {
	t.Helper()
	var ops, errs int64
	for _, r := range p.Operations {
		ops += r.Count
		errs += r.Errors
		var classes int64
		for _, c := range r.ErrorClasses {
			classes += c.Count
		}
		if classes != r.Errors {
			t.Errorf("%s: %d errors but classes sum to %d", r.Name, r.Errors, classes)
		}
		if r.Count > r.Errors && !(r.Latency.P50 <= r.Latency.P99 && r.Latency.P99 <= r.Latency.Max*1.004) {
			t.Errorf("%s: latency quantiles out of order: %+v", r.Name, r.Latency)
		}
	}
	if len(p.Operations) > 0 && (ops != p.Ops || errs != p.Errors) {
		t.Errorf("%s phase: ops %d errors %d, rows sum to %d and %d", p.Name, p.Ops, p.Errors, ops, errs)
	}
	if p.DurationSeconds <= 0 || p.OpsPerSecond <= 0 {
		t.Errorf("%s phase: duration %v, ops/s %v", p.Name, p.DurationSeconds, p.OpsPerSecond)
	}
}

// TestRunEndToEnd drives the embedded mocktikv through both phases in
// raw and txn modes, bounded by operation count and by duration, and
// checks the summaries: the load wrote every record, each run made
// exactly the operations asked (count-bounded), nothing failed, and the
// totals add up.
func TestRunEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		txn  bool
	}{
		{"raw all ops", []string{"-mode", "raw", "-readprop", "0.3", "-updateprop", "0.2", "-insertprop", "0.2", "-scanprop", "0.1", "-rmwprop", "0.2", "-scanlength", "10", "-operationcount", "400", "-threads", "4"}, false},
		{"raw workload a for a duration", []string{"-workload", "a", "-duration", "300ms", "-threads", "4", "-format", "json"}, false},
		// Optimistic writes of concurrent workers could conflict (a
		// counted error); one worker cannot.
		{"txn optimistic batches", []string{"-mode", "txn", "-txnbatch", "4", "-readprop", "0.3", "-updateprop", "0.2", "-insertprop", "0.2", "-scanprop", "0.1", "-rmwprop", "0.2", "-scanlength", "10", "-operationcount", "200", "-threads", "1"}, true},
		// Pessimistic transactions of one write wait for each other's
		// locks instead of failing, and cannot deadlock.
		{"txn pessimistic latest", []string{"-mode", "txn", "-txnmode", "pessimistic", "-workload", "d", "-insertprop", "0.05", "-updateprop", "0.2", "-operationcount", "200", "-threads", "4"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := runJSON(t, context.Background(), tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if s.Interrupted || s.Load == nil || s.Run == nil {
				t.Fatalf("summary: interrupted %v, load %v, run %v", s.Interrupted, s.Load, s.Run)
			}
			if s.Load.Records != 500 || s.Load.Errors != 0 || s.Load.Ops != 10 {
				t.Fatalf("load: %+v", s.Load)
			}
			checkConsistent(t, s.Load)
			checkConsistent(t, s.Run)
			if s.Run.Errors != 0 {
				t.Fatalf("run errors: %+v", s.Run.Operations)
			}
			if s.Config.OpCount > 0 && s.Run.Ops != s.Config.OpCount {
				t.Fatalf("run made %d ops, asked for %d", s.Run.Ops, s.Config.OpCount)
			}
			if s.Run.Ops == 0 {
				t.Fatal("run made no operations")
			}
			if tc.txn {
				rows := map[string]RowSummary{}
				for _, r := range s.Run.Transactions {
					rows[r.Name] = r
				}
				txns, commits := rows[rowTxn], rows[rowCommit]
				if txns.Count == 0 || txns.Count != commits.Count || txns.Errors != 0 || txns.Count > s.Run.Ops ||
					s.Run.Txns != txns.Count || s.Run.FailedTxns != 0 {
					t.Fatalf("txn rows %+v against %d ops", s.Run.Transactions, s.Run.Ops)
				}
			} else if len(s.Run.Transactions) != 0 {
				t.Fatalf("raw run has transaction rows: %+v", s.Run.Transactions)
			}
		})
	}
}

// TestRunInterrupted: a run whose context ends (SIGINT) stops its
// workers, still writes a summary marked interrupted, and counts the
// operations cut short as canceled errors rather than dropping them.
func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stdout bytes.Buffer
	var stderr syncBuffer
	path := filepath.Join(t.TempDir(), "s.json")
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-recordcount", "200", "-duration", "1m", "-threads", "4", "-interval", "10ms", "-json", path}, &stdout, &stderr)
	}()
	// Cancel once the run phase has reported progress, so the cut lands
	// mid-run.
	for !strings.Contains(stderr.String(), "run ") {
		select {
		case err := <-done:
			t.Fatalf("run ended before cancel: %v", err)
		default:
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s Summary
	if err := json.Unmarshal(doc, &s); err != nil {
		t.Fatal(err)
	}
	if !s.Interrupted || s.Run == nil || s.Run.Ops == 0 {
		t.Fatalf("interrupted run summary: %s", doc)
	}
	for _, r := range s.Run.Operations {
		for class := range r.ErrorClasses {
			if class != "canceled" {
				t.Fatalf("%s: unexpected error class %s: %+v", r.Name, class, r.ErrorClasses[class])
			}
		}
	}
	checkConsistent(t, s.Run)
}

// TestStrictFailsOnErrors: with -strict, failed operations (here reads
// of a prefix nothing was loaded under) make run return
// ErrOperationsFailed, after the summary counted them as not_found.
func TestStrictFailsOnErrors(t *testing.T) {
	s, err := runJSON(t, context.Background(), "-phase", "run", "-readprop", "1", "-updateprop", "0", "-operationcount", "20", "-strict")
	if !errors.Is(err, ErrOperationsFailed) {
		t.Fatalf("run = %v, want ErrOperationsFailed", err)
	}
	if s.Load != nil || s.Run.Errors != 20 || s.Run.Operations[0].ErrorClasses["not_found"].Count != 20 {
		t.Fatalf("summary: %+v", s.Run.Operations)
	}
}
