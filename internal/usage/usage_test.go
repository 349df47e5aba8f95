package usage

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

var sink int

func TestScrapeSumsOverLabels(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "# HELP etcd_mvcc_put_total x\n# TYPE etcd_mvcc_put_total counter\netcd_mvcc_put_total 12\n"+
			"etcd_debugging_mvcc_events_total{type=\"a\"} 3\netcd_debugging_mvcc_events_total{type=\"b\"} 4.5\nother_total 9\n")
	}))
	defer srv.Close()
	got, err := Scrape(srv.URL, "etcd_mvcc_put_total", "etcd_debugging_mvcc_events_total", "missing_total")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["etcd_mvcc_put_total"] != 12 || got["etcd_debugging_mvcc_events_total"] != 7.5 {
		t.Errorf("Scrape = %v", got)
	}
	if _, err := Scrape(srv.URL+"/nothing", "x"); err == nil {
		t.Error("Scrape of a path without metrics: no error")
	}
}

func TestCPUTimeOfThisProcess(t *testing.T) {
	var d time.Duration
	var err error
	for start := time.Now(); d == 0 && err == nil && time.Since(start) < 5*time.Second; {
		for i := 0; i < 1e6; i++ { // burn some CPU so the count is not zero
			sink += i
		}
		d, err = CPUTime(os.Getpid())
	}
	if err != nil || d <= 0 {
		t.Errorf("CPUTime = %v, %v", d, err)
	}
	if _, err := CPUTime(-1); err == nil {
		t.Error("CPUTime(-1): no error")
	}
}
