package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Summary is the machine-readable result of a run (-format json, -json
// path): the configuration and one PhaseSummary per phase that ran.
type Summary struct {
	Config      ConfigSummary `json:"config"`
	Load        *PhaseSummary `json:"load,omitempty"`
	Run         *PhaseSummary `json:"run,omitempty"`
	Interrupted bool          `json:"interrupted"` // ctx ended (SIGINT) before the phases finished
}

// ConfigSummary records the settings that shape the figures.
type ConfigSummary struct {
	Target       string       `json:"target"` // "mocktikv" or the PD addresses
	Mode         Mode         `json:"mode"`
	TxnMode      TxnMode      `json:"txn_mode,omitempty"`
	TxnBatch     int          `json:"txn_batch,omitempty"`
	Workload     string       `json:"workload,omitempty"`
	Proportions  Proportions  `json:"proportions"`
	Distribution Distribution `json:"distribution"`
	RecordCount  int64        `json:"record_count"`
	OpCount      int64        `json:"operation_count,omitempty"`
	Duration     string       `json:"duration,omitempty"`
	Threads      int          `json:"threads"`
	ValueSize    int          `json:"value_size"`
	ScanLength   int          `json:"scan_length"`
	Seed         uint64       `json:"seed"`
}

// PhaseSummary is one phase's totals and rows. Ops and Errors total the
// Operations rows (in the load phase: its writes); Transactions holds the
// rows that time groups of operations (TXN, COMMIT, LOAD) and are not
// part of the totals.
type PhaseSummary struct {
	Name            string  `json:"name"`
	DurationSeconds float64 `json:"duration_seconds"`
	Ops             int64   `json:"ops"`
	Errors          int64   `json:"errors"`
	OpsPerSecond    float64 `json:"ops_per_second"`
	Records         int64   `json:"records,omitempty"` // load phase: records written
	// Txns and FailedTxns count transactions (txn mode): a failed commit
	// fails its transaction, not the operations already executed in it.
	Txns         int64        `json:"txns,omitempty"`
	FailedTxns   int64        `json:"failed_txns,omitempty"`
	Operations   []RowSummary `json:"operations,omitempty"`
	Transactions []RowSummary `json:"transactions,omitempty"`
}

// RowSummary is one row: attempts, failures by class, and the latency of
// the successful attempts.
type RowSummary struct {
	Name         string                 `json:"name"`
	Count        int64                  `json:"count"` // attempts, failed ones included
	Errors       int64                  `json:"errors"`
	ErrorClasses map[string]*ErrorClass `json:"error_classes,omitempty"`
	OpsPerSecond float64                `json:"ops_per_second"`
	Latency      LatencySummary         `json:"latency_us"`
}

// ErrorClass counts failures of one kind (canceled, not_found,
// undetermined, write_conflict, deadlock, retryable, other) and keeps the
// first one's message.
type ErrorClass struct {
	Count  int64  `json:"count"`
	Sample string `json:"sample"`
}

// LatencySummary is in microseconds, from a histogram within 0.4% of the
// exact sample quantiles (avg and max are exact).
type LatencySummary struct {
	Avg  float64 `json:"avg"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

func summarizeConfig(c *Config) ConfigSummary {
	s := ConfigSummary{
		Target: "mocktikv", Mode: c.Mode, Workload: c.Workload, Proportions: c.Proportions,
		Distribution: c.Distribution, RecordCount: c.RecordCount, OpCount: c.OpCount,
		Threads: c.Threads, ValueSize: c.ValueSize, ScanLength: c.ScanLength, Seed: c.Seed,
	}
	if len(c.PD) > 0 {
		s.Target = strings.Join(c.PD, ",")
	}
	if c.Mode == ModeTxn {
		s.TxnMode, s.TxnBatch = c.TxnMode, c.TxnBatch
	}
	if c.Duration > 0 {
		s.Duration = c.Duration.String()
	}
	return s
}

// summary freezes the phase's rows; call after finish.
func (p *phaseStats) summary() *PhaseSummary {
	secs := time.Duration(p.elapse.Load()).Seconds()
	rate := func(n int64) float64 {
		if secs <= 0 {
			return 0
		}
		return float64(n) / secs
	}
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	s := &PhaseSummary{Name: p.name, DurationSeconds: secs, Records: p.records.Load()}
	for _, name := range p.order {
		r := p.rows[name]
		row := RowSummary{Name: name, Count: r.attempt.Load()}
		r.mu.Lock()
		for class, c := range r.classes {
			if row.ErrorClasses == nil {
				row.ErrorClasses = map[string]*ErrorClass{}
			}
			row.ErrorClasses[class] = &ErrorClass{Count: c.Count, Sample: c.Sample}
			row.Errors += c.Count
		}
		r.mu.Unlock()
		row.OpsPerSecond = rate(row.Count)
		row.Latency = LatencySummary{
			Avg: r.lat.Mean() / 1e3, P50: us(r.lat.Quantile(0.5)), P90: us(r.lat.Quantile(0.9)),
			P99: us(r.lat.Quantile(0.99)), P999: us(r.lat.Quantile(0.999)), Max: us(r.lat.Max()),
		}
		if name == rowTxn {
			s.Txns, s.FailedTxns = row.Count, row.Errors
		}
		if p.totals(name) {
			s.Ops += row.Count
			s.Errors += row.Errors
		}
		if p.isOp[name] {
			// Rows of kinds the mix never draws are left out.
			if row.Count > 0 {
				s.Operations = append(s.Operations, row)
			}
		} else {
			s.Transactions = append(s.Transactions, row)
		}
	}
	s.OpsPerSecond = rate(s.Ops)
	return s
}

// writeSummary writes the summary to stdout as text or JSON, and as JSON
// to -json's file.
func writeSummary(cfg *Config, s *Summary, stdout io.Writer) error {
	doc, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("tikvbench: encode summary: %w", err)
	}
	doc = append(doc, '\n')
	if cfg.JSONPath != "" {
		if err := os.WriteFile(cfg.JSONPath, doc, 0o644); err != nil {
			return fmt.Errorf("tikvbench: write summary: %w", err)
		}
	}
	if cfg.Format == "json" {
		_, err = stdout.Write(doc)
		return err
	}
	return writeText(s, stdout)
}

func writeText(s *Summary, out io.Writer) error {
	c := s.Config
	fmt.Fprintf(out, "tikvbench: %s on %s, %s distribution, %d records, %d threads", c.Mode, c.Target, c.Distribution, c.RecordCount, c.Threads)
	if c.Mode == ModeTxn {
		fmt.Fprintf(out, ", %s txns of %d ops", c.TxnMode, c.TxnBatch)
	}
	if c.Workload != "" {
		fmt.Fprintf(out, ", workload %s", c.Workload)
	}
	fmt.Fprintln(out)
	if s.Interrupted {
		fmt.Fprintln(out, "INTERRUPTED: figures cover the part that ran")
	}
	for _, p := range []*PhaseSummary{s.Load, s.Run} {
		if p == nil {
			continue
		}
		fmt.Fprintf(out, "[%s] %.2fs, %d ops, %.1f ops/s, %d errors", strings.ToUpper(p.Name), p.DurationSeconds, p.Ops, p.OpsPerSecond, p.Errors)
		if p.Txns > 0 {
			fmt.Fprintf(out, ", %d txns (%d failed)", p.Txns, p.FailedTxns)
		}
		if p.Records > 0 {
			fmt.Fprintf(out, ", %d records (%.0f records/s)", p.Records, float64(p.Records)/max(p.DurationSeconds, 1e-9))
		}
		fmt.Fprintln(out)
		rows := slices.Concat(p.Operations, p.Transactions)
		// Numbers align right; the names are padded to one width so
		// they read left-aligned in the right-aligned first column.
		width := len("op")
		for _, r := range rows {
			width = max(width, len(r.Name))
		}
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "%-*s\tcount\terrors\tops/s\tavg\tp50\tp90\tp99\tp99.9\tmax\t\n", width, "op")
		ms := func(us float64) string { return fmt.Sprintf("%.3fms", us/1e3) }
		for _, r := range rows {
			l := r.Latency
			fmt.Fprintf(tw, "%-*s\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t\n", width, r.Name, r.Count, r.Errors, r.OpsPerSecond,
				ms(l.Avg), ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, r := range rows {
			classes := make([]string, 0, len(r.ErrorClasses))
			for k := range r.ErrorClasses {
				classes = append(classes, k)
			}
			slices.Sort(classes)
			for _, k := range classes {
				fmt.Fprintf(out, "  %s errors, %s: %d (first: %s)\n", r.Name, k, r.ErrorClasses[k].Count, r.ErrorClasses[k].Sample)
			}
		}
	}
	return nil
}
