package admin

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/internal/errtext"
)

// maxPreviewSpec bounds the spec that GET api/schedule/preview reads.
const maxPreviewSpec = 256

// previewBody is GET api/schedule/preview.
type previewBody struct {
	Spec     string `json:"spec"`
	Location string `json:"location"`
	// Next are the fire times in Location (RFC 3339 with its offset).
	Next []time.Time `json:"next"`
}

// previewSchedule is GET api/schedule/preview?spec=&tz=&n=: the next fire
// times of a spec, checked as a definition's schedule would be on the
// serving instance (distcron.Scheduler.PreviewSchedule); nothing is stored.
func (h *handler) previewSchedule(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	for key := range v {
		if key != "spec" && key != "tz" && key != "n" {
			writeError(w, http.StatusBadRequest, "unknown parameter %s (want spec, tz or n)", errtext.Name(key))
			return
		}
	}
	spec := strings.TrimSpace(v.Get("spec"))
	if spec == "" {
		writeError(w, http.StatusBadRequest, "spec is required: a cron spec such as */5 * * * *, @hourly or @every 30s")
		return
	}
	if len(spec) > maxPreviewSpec {
		writeError(w, http.StatusBadRequest, "spec longer than %d bytes", maxPreviewSpec)
		return
	}
	n := nextRunsShown
	if s := v.Get("n"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 || n > distcron.MaxPreview {
			writeError(w, http.StatusBadRequest, "n=%s: want an integer from 1 to %d", errtext.Name(s), distcron.MaxPreview)
			return
		}
	}
	p, err := h.s.PreviewSchedule(spec, strings.TrimSpace(v.Get("tz")), n)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%s", strings.ReplaceAll(fmt.Sprint(err), "distcron: ", ""))
		return
	}
	writeJSON(w, http.StatusOK, previewBody{Spec: spec, Location: p.Location.String(), Next: p.Next})
}
