// idleconns: the load of bench/idle_rss.sh. It opens N connections to an
// httphello server (-addr), one after another, sends one GET on each and
// reads its whole response (up to the body "Hello, World!", so that
// net/http's longer response works too), then prints "READY N" and holds
// every connection open, idle, until its stdin closes. Each connection is
// then a keep-alive connection that has served one request and waits for
// the next, the state whose server-side memory the script measures.
// Standard library only, one file: go build main.go.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

const request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

var body = []byte("Hello, World!")

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "FAIL idleconns: %s\n", fmt.Sprintf(format, a...))
	os.Exit(1)
}

// roundTrip sends the request and reads until the response's body.
func roundTrip(c net.Conn) error {
	if _, err := c.Write([]byte(request)); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []byte
	buf := make([]byte, 512)
	for !bytes.HasSuffix(got, body) {
		n, err := c.Read(buf)
		if err != nil {
			return err
		}
		got = append(got, buf[:n]...)
	}
	c.SetReadDeadline(time.Time{})
	return nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "server address")
	n := flag.Int("conns", 10000, "connections")
	flag.Parse()

	conns := make([]net.Conn, *n)
	for i := range conns {
		c, err := net.Dial("tcp", *addr)
		if err != nil {
			fail("dial %d: %v", i, err)
		}
		conns[i] = c
	}
	var wg sync.WaitGroup
	errs := make(chan error, *n)
	for _, c := range conns {
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			if err := roundTrip(c); err != nil {
				errs <- err
			}
		}(c)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		fail("request: %v", err)
	}
	fmt.Printf("READY %d\n", *n)
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}
