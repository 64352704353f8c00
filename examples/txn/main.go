// Command txn is a tour of tikvgo's transactional client: a bank of
// accounts, concurrent transfers with Client.Update (which re-runs a
// transfer that lost a write conflict), consistent snapshot reads while
// they run, and what a transaction sees of its own writes.
//
// With no -pd flag it starts an embedded mocktikv (three stores, the
// accounts spread over several regions, served over gRPC on loopback):
//
//	go run ./examples/txn
//	go run ./examples/txn -pd 127.0.0.1:2379   # a real cluster (API v1)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/txn"
)

const (
	accounts = 10
	initial  = 100
)

func main() {
	pd := flag.String("pd", "", "comma-separated PD addresses; empty starts an embedded mocktikv")
	flag.Parse()
	if err := run(os.Stdout, *pd); err != nil {
		fmt.Fprintln(os.Stderr, "txn:", err)
		os.Exit(1)
	}
}

func account(i int) []byte { return fmt.Appendf(nil, "bank/account/%02d", i) }

func run(out io.Writer, pdFlag string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var addrs []string
	if pdFlag == "" {
		mock := mocktikv.NewCluster(mocktikv.WithStores(3))
		for _, i := range []int{3, 6} {
			if _, err := mock.SplitTxn(account(i)); err != nil {
				return err
			}
		}
		if err := mock.Serve(); err != nil {
			return fmt.Errorf("start mocktikv: %w", err)
		}
		defer mock.Close()
		addrs = mock.PDAddrs()
		fmt.Fprintf(out, "started mocktikv: PD at %s, %d stores, %d regions\n",
			strings.Join(addrs, ","), len(mock.StoreIDs()), len(mock.Regions()))
	} else {
		addrs = strings.Split(pdFlag, ",")
	}
	cluster, err := tikv.Connect(ctx, addrs)
	if err != nil {
		return err
	}
	defer cluster.Close()
	client := txn.NewClient(cluster)
	// Close waits for the secondaries commits left running.
	defer client.Close(context.Background())

	// Open the accounts in one transaction: all or nothing.
	err = client.Update(ctx, func(ctx context.Context, t *txn.Txn) error {
		for i := range accounts {
			if err := t.Set(account(i), []byte(strconv.Itoa(initial))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("open accounts: %w", err)
	}
	fmt.Fprintf(out, "opened %d accounts of %d\n", accounts, initial)

	// A transaction reads its own writes; nobody else sees them before
	// the commit.
	t, err := client.Begin(ctx)
	if err != nil {
		return err
	}
	_ = t.Set(account(0), []byte("0"))
	mine, _ := t.Get(ctx, account(0))
	theirs, _ := client.Snapshot(t.StartTS()).Get(ctx, account(0))
	fmt.Fprintf(out, "inside an open transaction account 00 reads %s; a snapshot at the same ts reads %s\n", mine, theirs)
	_ = t.Rollback()

	// Concurrent transfers; a snapshot reader checks the total meanwhile.
	var transfers, reruns atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 4 {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(w), 7))
			for range 25 {
				from, to, amount := rnd.IntN(accounts), rnd.IntN(accounts), 1+rnd.IntN(20)
				if from == to {
					continue
				}
				runs := 0
				err := client.Update(ctx, func(ctx context.Context, t *txn.Txn) error {
					runs++
					return transfer(ctx, t, from, to, amount)
				})
				if err != nil && !errors.Is(err, errInsufficient) {
					errs <- err
					return
				}
				transfers.Add(1)
				reruns.Add(int64(runs - 1))
			}
		})
	}
	snapshots := 0
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		default:
		}
		total, err := audit(ctx, client)
		if err != nil {
			return err
		}
		if total != accounts*initial {
			return fmt.Errorf("a snapshot saw a total of %d, want %d", total, accounts*initial)
		}
		snapshots++
	}
	close(errs)
	if err := <-errs; err != nil {
		return fmt.Errorf("transfer: %w", err)
	}
	total, err := audit(ctx, client)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d transfers finished (%d re-runs after write conflicts); %d snapshots read during them all saw %d\n",
		transfers.Load(), reruns.Load(), snapshots, accounts*initial)
	fmt.Fprintf(out, "final total: %d\n", total)
	return nil
}

var errInsufficient = errors.New("insufficient funds")

// transfer moves amount from one account to another inside t.
func transfer(ctx context.Context, t *txn.Txn, from, to, amount int) error {
	vals, err := t.BatchGet(ctx, [][]byte{account(from), account(to)})
	if err != nil {
		return err
	}
	a, _ := strconv.Atoi(string(vals[0]))
	b, _ := strconv.Atoi(string(vals[1]))
	if a < amount {
		return errInsufficient
	}
	if err := t.Set(account(from), []byte(strconv.Itoa(a-amount))); err != nil {
		return err
	}
	return t.Set(account(to), []byte(strconv.Itoa(b+amount)))
}

// audit sums every account in one snapshot, by a scan.
func audit(ctx context.Context, client *txn.Client) (int, error) {
	ts, err := client.CurrentTimestamp(ctx)
	if err != nil {
		return 0, err
	}
	total, n := 0, 0
	for pair, err := range client.Snapshot(ts).Iter(ctx, []byte("bank/account/"), []byte("bank/account0")) {
		if err != nil {
			return 0, err
		}
		v, _ := strconv.Atoi(string(pair.Value))
		total += v
		n++
	}
	if n != accounts {
		return 0, fmt.Errorf("audit found %d accounts, want %d: %w", n, accounts, kv.ErrProtocol)
	}
	return total, nil
}
