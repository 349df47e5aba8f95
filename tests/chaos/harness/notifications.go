package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
)

// notificationSink is the webhook the nodes notify (examples/node
// -notify-webhook): an HTTP server on 127.0.0.1 that appends each posted
// record to a file, one JSON line each, and answers 204.
type notificationSink struct {
	url  string
	srv  *http.Server
	done chan struct{}

	mu   sync.Mutex
	file *os.File
	err  error
}

func startNotificationSink(path string) (*notificationSink, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Close()
		return nil, err
	}
	n := &notificationSink{url: "http://" + ln.Addr().String() + "/notify", file: f, done: make(chan struct{})}
	n.srv = &http.Server{Handler: http.HandlerFunc(n.serve)}
	go func() {
		defer close(n.done)
		n.srv.Serve(ln)
	}()
	return n, nil
}

func (n *notificationSink) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || r.Method != http.MethodPost || !json.Valid(body) {
		http.Error(w, "want a POST of one JSON record", http.StatusBadRequest)
		return
	}
	var line bytes.Buffer
	json.Compact(&line, body)
	line.WriteByte('\n')
	n.mu.Lock()
	if _, err := n.file.Write(line.Bytes()); err != nil && n.err == nil {
		n.err = err
	}
	n.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// close stops the server and closes the file; safe to call twice.
func (n *notificationSink) close() error {
	n.srv.Close()
	<-n.done
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.file == nil {
		return n.err
	}
	err := errors.Join(n.err, n.file.Close())
	n.file = nil
	return err
}
