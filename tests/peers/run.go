package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// runAll runs every system of c in turn, each on a fresh etcd, logging
// progress to log.
func runAll(c config, log io.Writer) ([]row, error) {
	b, err := buildBinaries(c.systems, log)
	if err != nil {
		return nil, err
	}
	defer b.remove()
	var rows []row
	for _, name := range c.systems {
		fmt.Fprintf(log, "peers: %s: %d nodes, %d jobs every %v, window %v\n", name, c.nodes, c.jobs, c.every, c.window)
		r, err := runSystem(c, name, b, log)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// binaries are the programs a run starts besides this one.
type binaries struct {
	tmp   string
	etcd  string            // the etcd member
	nodes map[string]string // node binaries of the systems built apart
}

// buildBinaries builds the etcd member and the nodes of systems that are
// modules of their own (externalNodes).
func buildBinaries(systems []string, log io.Writer) (*binaries, error) {
	tmp, err := os.MkdirTemp("", "distcron-peers-bin-")
	if err != nil {
		return nil, err
	}
	b := &binaries{tmp: tmp, nodes: map[string]string{}}
	if b.etcd, err = build(tmp, "etcdmember", ".", etcdMember, false, log); err != nil {
		b.remove()
		return nil, err
	}
	for _, name := range systems {
		if _, err := newSystem(name); err == nil {
			continue
		}
		src, ok := externalNodes[name]
		if !ok {
			b.remove()
			return nil, fmt.Errorf("unknown system %q (have %v)", name, systemNames)
		}
		if b.nodes[name], err = build(tmp, name+"-node", src, ".", true, log); err != nil {
			b.remove()
			return nil, fmt.Errorf("%s: build its node: %w", name, err)
		}
	}
	return b, nil
}

func (b *binaries) remove() { os.RemoveAll(b.tmp) }

// node is a node process as the coordinator sees it.
type node struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	ready chan error // one value: nil once it printed "ready"
	done  chan error // closed once its stdout ended
}

// fire is one reported run.
type fire struct {
	job         int
	tick, start int64
}

// runSystem runs one system: a fresh etcd, c.nodes node processes, one window.
func runSystem(c config, name string, b *binaries, log io.Writer) (row, error) {
	etcd, err := startEtcd(b.etcd, c.noFsync, log)
	if err != nil {
		return row{}, err
	}
	defer etcd.stop()
	self, err := os.Executable()
	if err != nil {
		return row{}, err
	}
	if bin := b.nodes[name]; bin != "" {
		self = bin
	}
	// The first tick is on the Unix-epoch grid of the period, as distcron's
	// @every is, and the ticks inferred for the others (tally) are.
	every := c.every.Nanoseconds()
	t0 := time.Unix(0, (time.Now().Add(c.setup).UnixNano()/every+1)*every)
	start := t0.Add(c.warmup)
	end := start.Add(c.window)
	ns := fmt.Sprintf("/peers-%d/", time.Now().UnixNano())

	var mu sync.Mutex
	var fires []fire
	var nodes []*node
	defer func() {
		for _, n := range nodes {
			n.cmd.Process.Kill()
			n.cmd.Wait()
		}
	}()
	for i := 0; i < c.nodes; i++ {
		cmd := exec.Command(self, "-role", "node", "-system", name, "-id", fmt.Sprintf("n%d", i), "-index", strconv.Itoa(i),
			"-nodes", strconv.Itoa(c.nodes), "-etcd", etcd.endpoint, "-ns", ns, "-jobs", strconv.Itoa(c.jobs),
			"-every", c.every.String(), "-t0", strconv.FormatInt(t0.UnixNano(), 10), fmt.Sprintf("-spread=%v", c.spread))
		cmd.Stderr = log
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		in, err := cmd.StdinPipe()
		if err != nil {
			return row{}, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return row{}, err
		}
		if err := cmd.Start(); err != nil {
			return row{}, err
		}
		n := &node{cmd: cmd, stdin: in, ready: make(chan error, 1), done: make(chan error, 1)}
		nodes = append(nodes, n)
		go func() { n.done <- readNode(out, n.ready, &mu, &fires) }()
	}
	for i, n := range nodes {
		select {
		case err := <-n.ready:
			if err != nil {
				return row{}, fmt.Errorf("node %d: %w", i, err)
			}
		case <-time.After(time.Until(start)):
			return row{}, fmt.Errorf("node %d not ready by the window's start (raise -setup)", i)
		}
	}
	if late := time.Since(t0); late > 0 {
		fmt.Fprintf(log, "peers: %s: nodes ready %v after the first tick (inside the warm-up)\n", name, late.Round(time.Millisecond))
	}
	pids := make([]int, len(nodes))
	for i, n := range nodes {
		pids[i] = n.cmd.Process.Pid
	}
	time.Sleep(time.Until(start))
	s0, err0 := takeSample(etcd.endpoint, etcd.cmd.Process.Pid, pids)
	load := loadAvg()
	time.Sleep(time.Until(end))
	s1, err1 := takeSample(etcd.endpoint, etcd.cmd.Process.Pid, pids)
	load += "→" + loadAvg()
	var cst cost
	if err0 == nil && err1 == nil {
		cst = s0.until(s1)
	} else {
		fmt.Fprintln(log, "peers: cost sample:", err0, err1)
	}
	time.Sleep(c.drain)
	var rss []int64
	for _, pid := range pids {
		b, err := peakRSS(pid)
		if err != nil {
			return row{}, err
		}
		rss = append(rss, b)
	}
	for _, n := range nodes {
		fmt.Fprintln(n.stdin, "stop")
	}
	for i, n := range nodes {
		select {
		case err := <-n.done:
			if err != nil {
				return row{}, fmt.Errorf("node %d: %w", i, err)
			}
		case <-time.After(30 * time.Second):
			return row{}, fmt.Errorf("node %d did not stop", i)
		}
		if err := n.cmd.Wait(); err != nil {
			return row{}, fmt.Errorf("node %d: %w", i, err)
		}
	}
	nodes = nil
	mu.Lock()
	defer mu.Unlock()
	r := tally(c, name, start, fires, rss, cst)
	r.load = load
	return r, nil
}

// readNode reads a node's stdout until "done": "ready" goes to ready, fires
// to fires.
func readNode(out io.Reader, ready chan<- error, mu *sync.Mutex, fires *[]fire) error {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	isReady := false
	var batch []fire
	flush := func() {
		mu.Lock()
		*fires = append(*fires, batch...)
		mu.Unlock()
		batch = batch[:0]
	}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "f "):
			f := strings.Fields(line)
			if len(f) != 4 {
				continue
			}
			j, _ := strconv.Atoi(f[1])
			t, _ := strconv.ParseInt(f[2], 10, 64)
			s, _ := strconv.ParseInt(f[3], 10, 64)
			batch = append(batch, fire{j, t, s})
			if len(batch) >= 4096 {
				flush()
			}
		case line == "ready":
			isReady = true
			ready <- nil
		case line == "done":
			flush()
			return nil
		}
	}
	flush()
	err := sc.Err()
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	if !isReady {
		ready <- fmt.Errorf("exited before ready: %w", err)
	}
	return fmt.Errorf("output ended before done: %w", err)
}
