package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// Mode is which tikvgo client a run drives.
type Mode string

const (
	// ModeRaw drives raw.Client: every operation is one RawKV request.
	ModeRaw Mode = "raw"
	// ModeTxn drives txn.Client: operations run inside transactions of
	// Config.TxnBatch operations each, then commit.
	ModeTxn Mode = "txn"
)

// TxnMode is how transactions take their locks.
type TxnMode string

const (
	// Optimistic transactions lock nothing until commit; a conflicting
	// commit fails (counted as a COMMIT error).
	Optimistic TxnMode = "optimistic"
	// Pessimistic transactions lock each written key when it is written
	// (LockKeys), waiting for other holders instead of failing at commit.
	Pessimistic TxnMode = "pessimistic"
)

// Distribution is how operations choose among existing records.
type Distribution string

const (
	// Uniform picks every existing record with equal probability.
	Uniform Distribution = "uniform"
	// Zipfian picks records with scrambled-zipfian popularity (YCSB's
	// default): a few records, spread over the keyspace, are hot.
	Zipfian Distribution = "zipfian"
	// Latest favours the most recently inserted records, zipfian by age.
	Latest Distribution = "latest"
)

// Phase selects which phases a run executes.
type Phase string

const (
	// PhaseBoth loads the records, then runs the workload.
	PhaseBoth Phase = "both"
	// PhaseLoad only inserts the records.
	PhaseLoad Phase = "load"
	// PhaseRun only runs the workload over records loaded earlier.
	PhaseRun Phase = "run"
)

// Proportions are the relative weights of the operation kinds; they need
// not sum to 1 (each is divided by their sum).
type Proportions struct {
	Read            float64 `json:"read"`
	Update          float64 `json:"update"`
	Insert          float64 `json:"insert"`
	Scan            float64 `json:"scan"`
	ReadModifyWrite float64 `json:"read_modify_write"`
}

func (p Proportions) sum() float64 {
	return p.Read + p.Update + p.Insert + p.Scan + p.ReadModifyWrite
}

// Preset is a named YCSB core workload: its operation mix and request
// distribution.
type Preset struct {
	Proportions  Proportions
	Distribution Distribution
}

// Presets are YCSB's core workloads A–F (workloads/workload[a-f] in the
// YCSB repository), by their one-letter names.
var Presets = map[string]Preset{
	"a": {Proportions{Read: 0.5, Update: 0.5}, Zipfian},          // update heavy
	"b": {Proportions{Read: 0.95, Update: 0.05}, Zipfian},        // read mostly
	"c": {Proportions{Read: 1}, Zipfian},                         // read only
	"d": {Proportions{Read: 0.95, Insert: 0.05}, Latest},         // read latest
	"e": {Proportions{Scan: 0.95, Insert: 0.05}, Zipfian},        // short ranges
	"f": {Proportions{Read: 0.5, ReadModifyWrite: 0.5}, Zipfian}, // read-modify-write
}

// Config is one tikvbench run, as its flags describe it.
type Config struct {
	PD           []string // PD addresses; empty starts an embedded mocktikv
	Mode         Mode
	TxnMode      TxnMode
	TxnBatch     int // operations per transaction (txn mode)
	Workload     string
	Proportions  Proportions
	Distribution Distribution
	Theta        float64
	RecordCount  int64
	OpCount      int64         // run-phase operations; 0 = until Duration
	Duration     time.Duration // run-phase length; 0 = until OpCount
	Threads      int
	ValueSize    int
	ScanLength   int // scans read 1..ScanLength records, uniformly
	LoadBatch    int // records per load-phase write
	HashedKeys   bool
	Prefix       string
	Regions      int // embedded mocktikv: regions the records are split into
	Phase        Phase
	Interval     time.Duration // progress line period; 0 = none
	Format       string        // "text" or "json" on stdout
	JSONPath     string        // also write the JSON summary here
	Seed         uint64
	Strict       bool // exit non-zero when any run-phase operation or transaction failed
}

// FlagError is a bad flag value: the flag, what was given, and why it is
// refused.
type FlagError struct {
	Flag   string
	Value  string
	Reason string
}

// Error names the flag, the value and the reason.
func (e *FlagError) Error() string {
	return fmt.Sprintf("tikvbench: -%s %q: %s", e.Flag, e.Value, e.Reason)
}

// ErrUsage is returned (wrapped) when the command line cannot be parsed
// at all, or -h was given.
var ErrUsage = errors.New("tikvbench: usage")

// parseConfig turns the command line into a validated Config. Flag
// parse failures wrap ErrUsage; values out of their domain are
// *FlagError. Usage text goes to usageOut.
func parseConfig(args []string, usageOut io.Writer) (*Config, error) {
	fs := flag.NewFlagSet("tikvbench", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	var (
		cfg                                   Config
		pd, mode, txnMode, dist, phase, order string
		props                                 Proportions
	)
	fs.StringVar(&pd, "pd", "", "comma-separated PD addresses; empty starts an embedded mocktikv")
	fs.StringVar(&mode, "mode", string(ModeRaw), "client to drive: raw or txn")
	fs.StringVar(&txnMode, "txnmode", string(Optimistic), "txn mode: optimistic or pessimistic")
	fs.IntVar(&cfg.TxnBatch, "txnbatch", 1, "operations per transaction (txn mode)")
	fs.StringVar(&cfg.Workload, "workload", "", "YCSB core workload preset a|b|c|d|e|f (explicit -*prop and -distribution flags override it)")
	fs.Float64Var(&props.Read, "readprop", 0.5, "proportion of reads")
	fs.Float64Var(&props.Update, "updateprop", 0.5, "proportion of updates")
	fs.Float64Var(&props.Insert, "insertprop", 0, "proportion of inserts")
	fs.Float64Var(&props.Scan, "scanprop", 0, "proportion of scans")
	fs.Float64Var(&props.ReadModifyWrite, "rmwprop", 0, "proportion of read-modify-writes")
	fs.StringVar(&dist, "distribution", string(Zipfian), "request distribution: uniform, zipfian or latest")
	fs.Float64Var(&cfg.Theta, "theta", 0.99, "zipfian exponent, in (0,1)")
	fs.Int64Var(&cfg.RecordCount, "recordcount", 10000, "records the load phase inserts")
	fs.Int64Var(&cfg.OpCount, "operationcount", 0, "run-phase operations (0: run for -duration)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "run-phase length (0 with -operationcount 0: 10s)")
	fs.IntVar(&cfg.Threads, "threads", 4, "concurrent workers")
	fs.IntVar(&cfg.ValueSize, "valuesize", 100, "bytes per value")
	fs.IntVar(&cfg.ScanLength, "scanlength", 100, "maximum records per scan (each scan reads 1..scanlength)")
	fs.IntVar(&cfg.LoadBatch, "loadbatch", 100, "records per write in the load phase")
	fs.StringVar(&order, "insertorder", "hashed", "key order of record numbers: hashed or ordered")
	fs.StringVar(&cfg.Prefix, "prefix", "tikvbench/", "prefix of every key the run touches")
	fs.IntVar(&cfg.Regions, "regions", 4, "embedded mocktikv: regions to split the records into")
	fs.StringVar(&phase, "phase", string(PhaseBoth), "phases to run: both, load or run")
	fs.DurationVar(&cfg.Interval, "interval", time.Second, "progress line period on stderr (0: none)")
	fs.StringVar(&cfg.Format, "format", "text", "summary format on stdout: text or json")
	fs.StringVar(&cfg.JSONPath, "json", "", "also write the JSON summary to this file")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the workers' random sources")
	fs.BoolVar(&cfg.Strict, "strict", false, "exit with an error when any run-phase operation or transaction failed (after the summary)")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected arguments %q", ErrUsage, fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	if pd != "" {
		for _, a := range strings.Split(pd, ",") {
			if a = strings.TrimSpace(a); a == "" {
				return nil, &FlagError{"pd", pd, "empty address in the list"}
			}
			cfg.PD = append(cfg.PD, strings.TrimSpace(a))
		}
	}
	cfg.Mode, cfg.TxnMode, cfg.Distribution, cfg.Phase = Mode(mode), TxnMode(txnMode), Distribution(dist), Phase(phase)
	cfg.Proportions = props
	if cfg.Workload != "" {
		p, ok := Presets[strings.ToLower(cfg.Workload)]
		if !ok {
			return nil, &FlagError{"workload", cfg.Workload, "not a YCSB core workload (a, b, c, d, e or f)"}
		}
		cfg.Workload = strings.ToLower(cfg.Workload)
		// The preset replaces the default mix; a proportion flag given
		// explicitly wins over the preset's value for it.
		pick := func(name string, flagVal, presetVal float64) float64 {
			if set[name] {
				return flagVal
			}
			return presetVal
		}
		cfg.Proportions = Proportions{
			Read:            pick("readprop", props.Read, p.Proportions.Read),
			Update:          pick("updateprop", props.Update, p.Proportions.Update),
			Insert:          pick("insertprop", props.Insert, p.Proportions.Insert),
			Scan:            pick("scanprop", props.Scan, p.Proportions.Scan),
			ReadModifyWrite: pick("rmwprop", props.ReadModifyWrite, p.Proportions.ReadModifyWrite),
		}
		if !set["distribution"] {
			cfg.Distribution = p.Distribution
		}
	}
	switch order {
	case "hashed":
		cfg.HashedKeys = true
	case "ordered":
	default:
		return nil, &FlagError{"insertorder", order, "want hashed or ordered"}
	}
	if cfg.OpCount == 0 && cfg.Duration == 0 {
		cfg.Duration = 10 * time.Second
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// validate refuses values outside their domain with a *FlagError.
func (c *Config) validate() error {
	num := func(v any) string { return fmt.Sprint(v) }
	switch {
	case c.Mode != ModeRaw && c.Mode != ModeTxn:
		return &FlagError{"mode", string(c.Mode), "want raw or txn"}
	case c.TxnMode != Optimistic && c.TxnMode != Pessimistic:
		return &FlagError{"txnmode", string(c.TxnMode), "want optimistic or pessimistic"}
	case c.TxnBatch < 1:
		return &FlagError{"txnbatch", num(c.TxnBatch), "must be at least 1"}
	case c.Distribution != Uniform && c.Distribution != Zipfian && c.Distribution != Latest:
		return &FlagError{"distribution", string(c.Distribution), "want uniform, zipfian or latest"}
	case !(c.Theta > 0 && c.Theta < 1):
		return &FlagError{"theta", num(c.Theta), "must be in (0, 1)"}
	case c.RecordCount < 1:
		return &FlagError{"recordcount", num(c.RecordCount), "must be at least 1"}
	case c.OpCount < 0:
		return &FlagError{"operationcount", num(c.OpCount), "must not be negative"}
	case c.Duration < 0:
		return &FlagError{"duration", c.Duration.String(), "must not be negative"}
	case c.Threads < 1:
		return &FlagError{"threads", num(c.Threads), "must be at least 1"}
	case c.ValueSize < 0:
		return &FlagError{"valuesize", num(c.ValueSize), "must not be negative"}
	case c.ScanLength < 1:
		return &FlagError{"scanlength", num(c.ScanLength), "must be at least 1"}
	case c.LoadBatch < 1:
		return &FlagError{"loadbatch", num(c.LoadBatch), "must be at least 1"}
	case c.Prefix == "":
		return &FlagError{"prefix", c.Prefix, "must not be empty (the run would touch the whole keyspace)"}
	case c.Regions < 1:
		return &FlagError{"regions", num(c.Regions), "must be at least 1"}
	case c.Phase != PhaseBoth && c.Phase != PhaseLoad && c.Phase != PhaseRun:
		return &FlagError{"phase", string(c.Phase), "want both, load or run"}
	case c.Interval < 0:
		return &FlagError{"interval", c.Interval.String(), "must not be negative"}
	case c.Format != "text" && c.Format != "json":
		return &FlagError{"format", c.Format, "want text or json"}
	}
	p := c.Proportions
	for _, f := range []struct {
		name string
		v    float64
	}{{"readprop", p.Read}, {"updateprop", p.Update}, {"insertprop", p.Insert}, {"scanprop", p.Scan}, {"rmwprop", p.ReadModifyWrite}} {
		if !(f.v >= 0) || f.v > 1e9 {
			return &FlagError{f.name, num(f.v), "must be a non-negative number"}
		}
	}
	if p.sum() <= 0 {
		return &FlagError{"readprop", num(p.Read), "the operation proportions sum to zero: nothing to run"}
	}
	return nil
}
