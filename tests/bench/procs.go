package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/distcron/distcron"
)

// The parent of a multi-process run starts one child per instance (this
// binary with -child), waits for a "ready" line from each, writes the
// window's start (Unix nanoseconds) to their stdin, and reads each child's
// result as one JSON line from its stdout.

// runProcesses runs each instance in its own process; etcd, when embedded,
// stays in this one.
func runProcesses(p params, rc runConfig) ([]result, costs, error) {
	type child struct {
		cmd  *exec.Cmd
		in   io.WriteCloser
		out  *bufio.Reader
		done bool
	}
	var children []*child
	defer func() {
		for _, c := range children {
			if !c.done {
				c.cmd.Process.Kill()
				c.cmd.Wait()
			}
		}
	}()
	self, err := os.Executable()
	if err != nil {
		return nil, costs{}, err
	}
	for i := 0; i < rc.instances; i++ {
		id := fmt.Sprintf("b%d", i)
		args := append([]string{"-child", "-id", id, "-etcd", strings.Join(p.endpoints, ","), "-ns", p.namespace,
			"-jobs", strconv.Itoa(p.jobs), "-every", p.every.String(), "-lead", p.lead.String(), fmt.Sprintf("-spread=%v", p.spread)},
			rc.forChild(id)...)
		cmd := exec.Command(self, args...)
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		in, err := cmd.StdinPipe()
		if err != nil {
			return nil, costs{}, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, costs{}, err
		}
		if err := cmd.Start(); err != nil {
			return nil, costs{}, err
		}
		children = append(children, &child{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<20)})
	}
	for i, c := range children {
		line, err := c.out.ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "ready" {
			return nil, costs{}, fmt.Errorf("instance %d did not start: %q %v", i, line, err)
		}
	}
	start := time.Now().Add(rc.warmup).Truncate(p.every).Add(p.every)
	pids := make([]int, len(children))
	for i, c := range children {
		pids[i] = c.cmd.Process.Pid
	}
	window := measureCosts(p.endpoints[0], pids, start, rc.window)
	if rc.cpuprofile != "" {
		// This process holds the embedded etcd: profile its side too.
		profiled := make(chan struct{})
		defer func() { <-profiled }()
		go func() {
			defer close(profiled)
			time.Sleep(time.Until(start))
			stop, err := startProfile(rc.cpuprofile + ".etcd")
			if err != nil {
				fmt.Fprintln(os.Stderr, "etcd profile:", err)
				return
			}
			time.Sleep(rc.window)
			stop()
		}()
	}
	for _, c := range children {
		fmt.Fprintf(c.in, "%d\n", start.UnixNano())
	}
	var results []result
	for i, c := range children {
		var r result
		if err := json.NewDecoder(c.out).Decode(&r); err != nil {
			return nil, costs{}, fmt.Errorf("instance %d: result: %w", i, err)
		}
		c.done = true
		if err := c.cmd.Wait(); err != nil {
			return nil, costs{}, fmt.Errorf("instance %d: %w", i, err)
		}
		results = append(results, r)
	}
	cost := window()
	cost.split = true
	return results, cost, nil
}

// runChild is one instance of a multi-process run (see runProcesses).
func runChild(p params, rc runConfig, id string) error {
	rec := newRecorder(rc.soak)
	counter := &txnCounter{}
	m := beginMeasure()
	begin := time.Now()
	s, cli, err := startInstance(p, id, rec, counter)
	if err != nil {
		return err
	}
	defer cli.Close()
	res := result{Startup: time.Since(begin)}
	m.started(&res)
	fmt.Println("ready")
	var nanos int64
	if _, err := fmt.Fscanln(os.Stdin, &nanos); err != nil {
		stopAll([]*distcron.Scheduler{s}, &res)
		return fmt.Errorf("read the window's start: %w", err)
	}
	start := time.Unix(0, nanos)
	rec.setWindow(start, start.Add(rc.window))
	c, err := waitWindow(rc, start, p.every, counter, id)
	stopAll([]*distcron.Scheduler{s}, &res)
	if err != nil {
		return err
	}
	out := rec.collect()
	out.Window, out.Won, out.Backups, out.Vouched, out.FlatFailed, out.Goroutines, out.HeapBytes, out.Startup = c, res.Won, res.Backups, res.Vouched, res.FlatFailed, res.Goroutines, res.HeapBytes, res.Startup
	return json.NewEncoder(os.Stdout).Encode(out)
}
