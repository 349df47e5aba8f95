package distcron

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// endpointProbeTimeout bounds the TCP probe of one endpoint.
const endpointProbeTimeout = time.Second

// diagnoseEndpoints says, for an error message, what each etcd endpoint
// does when dialled: refuses the connection, does not answer, or accepts
// it (then etcd itself did not respond: TLS or auth settings, or a
// member without quorum). The probes run in parallel, each at most
// endpointProbeTimeout.
func diagnoseEndpoints(endpoints []string) string {
	if len(endpoints) == 0 {
		return "the etcd client has no endpoints"
	}
	out := make([]string, len(endpoints))
	done := make(chan struct{}, len(endpoints))
	for i, ep := range endpoints {
		go func() {
			out[i] = ep + ": " + probeEndpoint(ep)
			done <- struct{}{}
		}()
	}
	for range endpoints {
		<-done
	}
	return "endpoints: " + strings.Join(out, "; ")
}

// probeEndpoint dials one endpoint ("host:port", "http://host:port",
// "https://...", "unix://path") and describes the outcome.
func probeEndpoint(ep string) string {
	network, addr := "tcp", ep
	if u, err := url.Parse(ep); err == nil && u.Host != "" {
		addr = u.Host
	} else if err == nil && (u.Scheme == "unix" || u.Scheme == "unixs") {
		network, addr = "unix", u.Opaque+u.Path
	}
	c, err := net.DialTimeout(network, addr, endpointProbeTimeout)
	switch {
	case err == nil:
		c.Close()
		return "accepts connections, but etcd did not answer (TLS or auth settings? a member without quorum?)"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (is etcd running there?)"
	case isTimeout(err):
		return fmt.Sprintf("no answer within %v (host down or filtered?)", endpointProbeTimeout)
	default:
		return err.Error()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
