// context: the time to create and cancel a tree of contexts. Go's side of
// gort's bench/context.cpp, which does the same thing line for line; both
// measure the requirement "creating and cancelling a tree of 100,000
// contexts takes at most Go's time". Standard library only, one file: go
// build main.go.
//
// N = 100,000 leaves (the optional first argument). The tree: a root
// context.WithCancel(context.Background()), then levels of WithCancel
// children, each level 10 times the one above until the last, which has N
// nodes (its parents in turn, round robin): for N = 100,000 the levels are
// 1, 10, 100, 1,000, 10,000, 100,000, 111,111 contexts in all (n=). All are
// created from one goroutine (main), level by level, keeping every Context
// and CancelFunc in a slice; each leaf's Done() channel is asked for as it
// is made (a caller that will wait on it does), and kept. The slices are
// made once, with room for the whole tree, and emptied (every element set
// to nil) at the end of every round.
//
// One round, timed as a whole (wall clock, and ru_minflt over it):
//  1. create the tree (create_ns: that part's wall ns / n);
//  2. cancel the root, then receive from every leaf's Done channel, which
//     must be closed, and check every leaf's Err() is context.Canceled
//     (cancel_ns: this part's ns / n);
//  3. call every CancelFunc (the idiom's defer cancel(); all are no-ops
//     now) and empty the slices (the GC frees the tree; its work falls in
//     later rounds, as gort's frees fall in this one).
// ns_per_ctx = the round's wall ns / n. One warm-up round, then 9 timed
// rounds; each figure is the median over the timed rounds (minflt too).
//
// RESULT name=context impl=go procs= n= leaves= rounds= ns_per_ctx=
// create_ns= cancel_ns= minflt= rss_kb=
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	fanOut      = 10
	timedRounds = 9
)

func fail(format string, a ...any) {
	s := os.Args[0]
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	fmt.Fprintf(os.Stderr, "FAIL %s: %s\n", s, fmt.Sprintf(format, a...))
	os.Exit(1)
}

func rusage() syscall.Rusage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fail("getrusage: %v", err)
	}
	return ru
}

func treeSize(leaves int) int {
	total := 1
	for level := 1; level < leaves; {
		level = min(level*fanOut, leaves)
		total += level
	}
	return total
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

type roundResult struct {
	nsPerCtx, createNs, cancelNs float64
	minflt                       int64
}

// tree holds the slices, made once with room for the whole tree and emptied
// by every round: their pages are not the contexts' cost.
type tree struct {
	ctxs    []context.Context
	cancels []context.CancelFunc
	dones   []<-chan struct{}
}

func oneRound(leaves int, t *tree) roundResult {
	n := treeSize(leaves)
	ctxs, cancels, dones := t.ctxs[:0], t.cancels[:0], t.dones[:0]

	flt0 := rusage().Minflt
	start := time.Now()
	root, cancel := context.WithCancel(context.Background())
	ctxs = append(ctxs, root)
	cancels = append(cancels, cancel)
	levelBegin, levelSize := 0, 1
	for levelSize < leaves {
		next := min(levelSize*fanOut, leaves)
		last := next == leaves
		for i := 0; i < next; i++ {
			c, cancel := context.WithCancel(ctxs[levelBegin+i%levelSize])
			if last {
				dones = append(dones, c.Done())
			}
			ctxs = append(ctxs, c)
			cancels = append(cancels, cancel)
		}
		levelBegin += levelSize
		levelSize = next
	}
	created := time.Now()
	cancels[0]()
	closed := 0
	for _, d := range dones {
		if _, ok := <-d; !ok {
			closed++
		}
	}
	for i := levelBegin; i < len(ctxs); i++ {
		if err := ctxs[i].Err(); err != context.Canceled {
			fail("leaf %d: Err() is %v", i, err)
		}
	}
	cancelled := time.Now()
	for _, f := range cancels {
		f()
	}
	// Empty the slices, so that the GC may free the tree.
	for i := range ctxs {
		ctxs[i] = nil
	}
	for i := range cancels {
		cancels[i] = nil
	}
	for i := range dones {
		dones[i] = nil
	}
	stop := time.Now()
	flt1 := rusage().Minflt

	if closed != leaves {
		fail("%d of %d leaves' Done channels closed", closed, leaves)
	}
	if levelBegin+levelSize != n {
		fail("made %d contexts, want %d", levelBegin+levelSize, n)
	}
	dn := float64(n)
	return roundResult{float64(stop.Sub(start).Nanoseconds()) / dn, float64(created.Sub(start).Nanoseconds()) / dn,
		float64(cancelled.Sub(created).Nanoseconds()) / dn, flt1 - flt0}
}

func medianF(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

func main() {
	leaves := 100_000
	if len(os.Args) >= 2 {
		var err error
		if leaves, err = strconv.Atoi(os.Args[1]); err != nil || leaves <= 0 {
			fail("bad scale argument %q (want a positive integer)", os.Args[1])
		}
	}
	t := &tree{make([]context.Context, 0, treeSize(leaves)), make([]context.CancelFunc, 0, treeSize(leaves)),
		make([]<-chan struct{}, 0, leaves)}
	oneRound(leaves, t) // warm-up
	var total, create, cancel, flt []float64
	for r := 0; r < timedRounds; r++ {
		x := oneRound(leaves, t)
		total = append(total, x.nsPerCtx)
		create = append(create, x.createNs)
		cancel = append(cancel, x.cancelNs)
		flt = append(flt, float64(x.minflt))
	}
	fmt.Printf("RESULT name=context impl=go procs=%d n=%d leaves=%d rounds=%d ns_per_ctx=%.2f create_ns=%.2f cancel_ns=%.2f minflt=%d rss_kb=%d\n",
		runtime.GOMAXPROCS(0), treeSize(leaves), leaves, timedRounds, medianF(total), medianF(create), medianF(cancel),
		int64(medianF(flt)), rusage().Maxrss)
}
