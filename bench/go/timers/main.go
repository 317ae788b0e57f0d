// timers: the resident memory one pending timer costs, and the time to
// create one. Go's side of gort's bench/timers.cpp, which does the same
// thing line for line; both measure the requirement "memory per pending timer
// stays below Go's". Standard library only, one file: go build main.go.
//
// N = 1,000,000 (the optional first argument). Three phases, each in a
// process of its own: the program runs itself as "timers N PHASE" for PHASE
// = timer, afterfunc, sleep, reads the numbers each prints, and prints the
// one RESULT line. A fresh process per phase, because a runtime keeps the
// room its timer heaps have grown to (Go's per-P []*timer, gort's per-P
// vector): a phase run after another would find room for its heap entries
// already there and not count it.
//
// Each phase first warms the runtime up: main creates and stops 1,000 Timers
// and 1,000 AfterFunc timers and sleeps 1 ms. Every RSS reading (VmRSS in
// /proc/self/status, as the anchors' parked) first gives free memory back to
// the OS: debug.FreeOSMemory (a full GC, then every free page released); gort
// calls malloc_trim(0). So a figure is what the live timers hold, not
// garbage awaiting a GC nor free memory an allocator keeps; Go's GC headroom
// (GOGC=100 lets the heap reach twice the live heap) is not counted.
//
//  1. timer: before := RSS; timers := make([]*time.Timer, N); N times
//     timers[i] = time.NewTimer(time.Hour); after := RSS. timer_bytes =
//     (after - before) * 1024 / N - 8: the slice is the benchmark's, not the
//     timers', so its 8 bytes per element (unsafe.Sizeof(*time.Timer)) are
//     taken off (gort takes off its vector's sizeof(gort::Timer) = 16; a
//     program holding N timers pays those too). create_ns: wall ns per
//     timer from just before the slice is made to just after the last
//     NewTimer returns. Check: all N Stop() calls return true.
//  2. afterfunc: the same with time.AfterFunc(time.Hour, fired) (fired, a
//     top-level func, counts its calls): afterfunc_bytes. Check: all N Stop()
//     calls return true and fired never ran.
//  3. sleep: N goroutines each blocked receiving from a nil channel, then N
//     more each blocked in time.Sleep(time.Hour); each calls ready.Done()
//     just before it blocks, and main reads RSS once ready.Wait() returns.
//     recv_g_bytes and sleep_g_bytes are each set's RSS increase * 1024 / N;
//     sleep_bytes = sleep_g_bytes - recv_g_bytes is what the pending sleep
//     adds to a blocked goroutine (stack and G cancel out). The baseline is a
//     nil channel because a receive on a real one holds a sudog (96 bytes in
//     Go; gort keeps it on the goroutine's stack) that a sleeping goroutine
//     does not hold: subtracting it would credit the sleep with the sudog.
//     Both sets stay blocked until the process exits. Check: RSS grew for
//     both sets; runtime.NumGoroutine() == 2N + 1.
//
// RESULT name=timers impl=go procs= n= timer_bytes= create_ns=
// afterfunc_bytes= recv_g_bytes= sleep_g_bytes= sleep_bytes= rss_kb=, where
// rss_kb is the largest peak RSS of the three phase processes (getrusage
// RUSAGE_CHILDREN).
package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

const warmUp = 1000

func fail(format string, a ...any) {
	s := os.Args[0]
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	fmt.Fprintf(os.Stderr, "FAIL %s: %s\n", s, fmt.Sprintf(format, a...))
	os.Exit(1)
}

func rssKB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		fail("open /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) >= 2 && fs[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(fs[1], 10, 64)
			if err != nil {
				fail("parse %q: %v", sc.Text(), err)
			}
			return kb
		}
	}
	fail("no VmRSS in /proc/self/status")
	return 0
}

// settledRSSKB is VmRSS once free memory has gone back to the OS.
func settledRSSKB() int64 {
	debug.FreeOSMemory()
	return rssKB()
}

func perItem(before, after int64, n int) float64 {
	return float64(after-before) * 1024 / float64(n)
}

var firedCount atomic.Int64

func fired() { firedCount.Add(1) }

func stopAll(ts []*time.Timer) (stopped int) {
	for _, t := range ts {
		if t.Stop() {
			stopped++
		}
	}
	return stopped
}

func warm() {
	ts := make([]*time.Timer, warmUp)
	for i := range ts {
		ts[i] = time.NewTimer(time.Hour)
	}
	stopAll(ts)
	for i := range ts {
		ts[i] = time.AfterFunc(time.Hour, fired)
	}
	stopAll(ts)
	time.Sleep(time.Millisecond)
}

// phaseTimers is phases 1 (afterFunc false) and 2; it returns the bytes per
// timer and the ns per timer created.
func phaseTimers(n int, afterFunc bool) (bytes, ns float64) {
	before := settledRSSKB()
	start := time.Now()
	ts := make([]*time.Timer, n)
	for i := range ts {
		if afterFunc {
			ts[i] = time.AfterFunc(time.Hour, fired)
		} else {
			ts[i] = time.NewTimer(time.Hour)
		}
	}
	wall := time.Since(start)
	after := settledRSSKB()
	if stopped := stopAll(ts); stopped != n || firedCount.Load() != 0 {
		fail("Stop returned true for %d of %d timers; %d AfterFunc calls ran", stopped, n, firedCount.Load())
	}
	return perItem(before, after, n) - float64(unsafe.Sizeof(ts[0])), float64(wall.Nanoseconds()) / float64(n)
}

var never chan struct{} // nil

func recvBlocked(ready *sync.WaitGroup) {
	ready.Done()
	<-never
}

func sleeper(ready *sync.WaitGroup) {
	ready.Done()
	time.Sleep(time.Hour)
}

// blockedSet starts n goroutines running f and returns the RSS increase per
// goroutine once all of them have called ready.Done().
func blockedSet(n int, f func(*sync.WaitGroup)) float64 {
	var ready sync.WaitGroup
	before := settledRSSKB()
	ready.Add(n)
	for i := 0; i < n; i++ {
		go f(&ready)
	}
	ready.Wait()
	after := settledRSSKB()
	if after <= before {
		fail("RSS did not grow: before %d KiB, after %d KiB", before, after)
	}
	return perItem(before, after, n)
}

func runPhase(phase string, n int) {
	warm()
	switch phase {
	case "timer":
		bytes, ns := phaseTimers(n, false)
		fmt.Printf("%.2f %.2f\n", bytes, ns)
	case "afterfunc":
		bytes, _ := phaseTimers(n, true)
		fmt.Printf("%.2f\n", bytes)
	case "sleep":
		recv := blockedSet(n, recvBlocked)
		sleep := blockedSet(n, sleeper)
		if g := runtime.NumGoroutine(); g != 2*n+1 {
			fail("%d goroutines, want %d", g, 2*n+1)
		}
		fmt.Printf("%.2f %.2f\n", recv, sleep)
	}
}

// phaseValues runs "exe n phase" and returns the want numbers it prints.
func phaseValues(exe string, n int, phase string, want int) []float64 {
	cmd := exec.Command(exe, strconv.Itoa(n), phase)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		fail("phase %s: %v", phase, err)
	}
	fs := strings.Fields(string(out))
	if len(fs) != want {
		fail("phase %s printed %q, want %d numbers", phase, out, want)
	}
	vs := make([]float64, want)
	for i, f := range fs {
		if vs[i], err = strconv.ParseFloat(f, 64); err != nil {
			fail("phase %s printed %q: %v", phase, out, err)
		}
	}
	return vs
}

func main() {
	n := 1_000_000
	if len(os.Args) >= 2 {
		var err error
		if n, err = strconv.Atoi(os.Args[1]); err != nil || n <= 0 {
			fail("bad scale argument %q (want a positive integer)", os.Args[1])
		}
	}
	if len(os.Args) >= 3 {
		switch phase := os.Args[2]; phase {
		case "timer", "afterfunc", "sleep":
			runPhase(phase, n)
		default:
			fail("unknown phase %q (want timer, afterfunc or sleep)", phase)
		}
		return
	}

	exe, err := os.Executable()
	if err != nil {
		fail("os.Executable: %v", err)
	}
	timer := phaseValues(exe, n, "timer", 2)
	afterFunc := phaseValues(exe, n, "afterfunc", 1)
	sleep := phaseValues(exe, n, "sleep", 2)
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		fail("getrusage: %v", err)
	}
	fmt.Printf("RESULT name=timers impl=go procs=%d n=%d timer_bytes=%.2f create_ns=%.2f afterfunc_bytes=%.2f "+
		"recv_g_bytes=%.2f sleep_g_bytes=%.2f sleep_bytes=%.2f rss_kb=%d\n",
		runtime.GOMAXPROCS(0), n, timer[0], timer[1], afterFunc[0], sleep[0], sleep[1], sleep[1]-sleep[0], ru.Maxrss)
}
