package admin

import (
	"net/http"
	"time"
)

// SetRequestTimeout changes the bound of the etcd and history calls of
// one request of h (a handler from NewHandler), for tests that stop etcd.
func SetRequestTimeout(h http.Handler, d time.Duration) { h.(*handler).cfg.timeout = d }
