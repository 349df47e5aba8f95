package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// etcdMember is the package of the etcd member command. It is a tool of
// this module (go.mod), so that it builds with or without the workspace;
// its process holds nothing but etcd, so its CPU is etcd's, and the node
// processes do not link an etcd server.
const etcdMember = "github.com/distcron/distcron/internal/embedetcd/cmd/etcdmember"

// etcdProc is an etcd member process started by startEtcd.
type etcdProc struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	endpoint string
	dir      string
}

// startEtcd starts the member binary bin (built from etcdMember) on free
// ports of 127.0.0.1 with a new temporary data directory, fsync on unless
// noFsync, and waits until it serves.
func startEtcd(bin string, noFsync bool, stderr io.Writer) (*etcdProc, error) {
	dir, err := os.MkdirTemp("", "distcron-peers-etcd-")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	cmd := exec.Command(bin, "-name", "m0", "-dir", filepath.Join(dir, "m0"), "-client-url", client,
		"-peer-url", fmt.Sprintf("http://127.0.0.1:%d", ports[1]), fmt.Sprintf("-no-fsync=%v", noFsync),
		"-log-level", "fatal") // etcd logs benign errors when it stops
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p := &etcdProc{cmd: cmd, stdin: in, dir: dir, endpoint: client}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "etcdmember m0 ready" {
		p.stop()
		return nil, fmt.Errorf("etcd did not start: %q %v", line, err)
	}
	return p, nil
}

// stop ends the member (SIGTERM, then SIGKILL after 10s) and removes its
// data.
func (p *etcdProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
	p.stdin.Close()
	os.RemoveAll(p.dir)
}

// freePorts asks the kernel for n distinct free TCP ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
