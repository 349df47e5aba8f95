package admin_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/distcron/distcron/admin"
)

// Issue 12: answers echoed an invalid name of any length. They quote at
// most 64 bytes of it, with an ellipsis and its length, and say
// "distcron: " at most once.
func TestLongNamesAreCutInAnswers(t *testing.T) {
	c := newCluster(t)
	srv := serve(t, newReportNode(t, c), admin.WithAuthorizer(allow), admin.WithHistory(c.History))
	long := strings.Repeat("x-", 150)
	shellJob := func(name string) string {
		return `{"name":"` + name + `","kind":"shell","schedule":"@every 1h","shell":{"command":"true"}}`
	}
	for _, tc := range []struct {
		name, method, path, body string
		headers                  []string
		status                   int
	}{
		{name: "unknown job", method: "GET", path: "api/jobs/" + long, status: http.StatusNotFound},
		{name: "invalid job name", method: "POST", path: "api/jobs/" + long + "~/pause", status: http.StatusNotFound},
		{name: "invalid definition name", method: "POST", path: "api/jobs", body: shellJob(long + "/"), status: http.StatusBadRequest},
		{name: "name mismatch", method: "PUT", path: "api/jobs/j1", body: shellJob(long), status: http.StatusBadRequest},
		{name: "unknown parameter", method: "GET", path: "api/runs?" + long + "=1", status: http.StatusBadRequest},
		{name: "unknown status", method: "GET", path: "api/runs?status=" + long, status: http.StatusBadRequest},
		{name: "bad limit", method: "GET", path: "api/runs?limit=" + long, status: http.StatusBadRequest},
		{name: "bad since", method: "GET", path: "api/runs?since=" + long, status: http.StatusBadRequest},
		{name: "bad run id", method: "GET", path: "api/runs/" + long, status: http.StatusBadRequest},
		{name: "no such run", method: "GET", path: "api/runs/" + runIDOf(t, long), status: http.StatusNotFound},
		{name: "no such route", method: "GET", path: "api/" + long[:len(long)-4], status: http.StatusNotFound},
		{name: "host", method: "GET", path: "api/info", headers: []string{"Host: " + strings.ReplaceAll(long, "-", "a")}, status: http.StatusMisdirectedRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := srv.call(tc.method, tc.path, tc.body, append([]string{auth}, tc.headers...)...)
			expectError(t, r, tc.status, ".")
			text := r.errorText(t)
			if strings.Contains(text, long[:66]) || strings.Contains(text, strings.ReplaceAll(long, "-", "a")[:66]) {
				t.Errorf("the answer says more than 64 bytes of the name: %q", text)
			}
			if !strings.Contains(text, "… (") || !strings.Contains(text, " bytes)") {
				t.Errorf("the answer %q does not cut the name short", text)
			}
			if n := strings.Count(text, "distcron: "); n > 1 {
				t.Errorf("the answer %q says \"distcron: \" %d times", text, n)
			}
		})
	}
}
