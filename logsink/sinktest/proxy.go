package sinktest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy forwards TCP connections from a loopback port to a server, and
// breaks them on demand, for outage tests of durable sinks: point the
// sink's client at [Proxy.Addr], then [Proxy.Cut] and [Proxy.Restore].
// Its goroutines end at [Proxy.Close], which t.Cleanup calls. Its methods
// are safe for concurrent use.
type Proxy struct {
	t      testing.TB
	target string
	addr   string

	matcher  atomic.Pointer[func([]byte) bool]
	muted    atomic.Int64
	accepted atomic.Int64

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewProxy listens on a free loopback port and forwards every connection
// to target (host:port). It fails t if it cannot listen.
func NewProxy(t testing.TB, target string) *Proxy {
	p := &Proxy{t: t, target: target, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.Close)
	return p
}

// Addr returns the proxy's address, host:port. It stays the same across
// Cut and Restore.
func (p *Proxy) Addr() string { return p.addr }

// Accepted returns how many connections the proxy has accepted.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// MuteReplies makes the proxy stop forwarding replies on the first
// connection whose client sends a chunk for which match returns true, from
// that chunk on: the request reaches the server, the answer never reaches
// the client. That makes the ambiguous failure a durable sink must
// survive (a write that succeeded, reported as failed). It returns at
// once; [Proxy.Muted] tells when it happened.
func (p *Proxy) MuteReplies(match func(chunk []byte) bool) { p.matcher.Store(&match) }

// Muted returns how many connections MuteReplies has muted.
func (p *Proxy) Muted() int64 { return p.muted.Load() }

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.accepted.Add(1)
			p.wg.Go(func() { p.forward(c) })
		}
	})
}

func (p *Proxy) forward(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // cut meanwhile
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	p.conns[client], p.conns[server] = struct{}{}, struct{}{}
	p.mu.Unlock()
	var mute atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() { // client to server, watching for the mute trigger
		buf := make([]byte, 32<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				if m := p.matcher.Load(); m != nil && (*m)(buf[:n]) && p.matcher.CompareAndSwap(m, nil) {
					mute.Store(true)
					p.muted.Add(1)
				}
				if _, werr := server.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		server.Close()
		client.Close()
	})
	wg.Go(func() { // server to client, unless muted
		buf := make([]byte, 32<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 && !mute.Load() {
				if _, werr := client.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		server.Close()
		client.Close()
	})
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}

// Cut closes every connection at once, with a TCP reset as a crash would,
// and refuses new ones until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.Close()
	}
}

// Restore accepts connections again, on the same address. It fails the
// test if the port was taken meanwhile.
func (p *Proxy) Restore() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("sinktest.Proxy: listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// Close cuts every connection and waits for the proxy's goroutines.
func (p *Proxy) Close() {
	p.Cut()
	p.wg.Wait()
}
