package admin

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// hostPattern is one entry of WithAllowedHosts.
type hostPattern struct {
	name   string // lower case, no trailing dot; for IPv6 without brackets
	port   string // "" for any port
	suffix bool   // name is ".example.com": any subdomain
}

// hostSet is the hosts a handler answers to, besides loopback.
type hostSet struct {
	any      bool
	patterns []hostPattern
}

// parseHosts reads the entries of WithAllowedHosts.
func parseHosts(entries []string) (hostSet, error) {
	var hs hostSet
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "*" {
			hs.any = true
			continue
		}
		name, port, ok := splitHost(e)
		if !ok || name == "" || strings.ContainsAny(name, "/ @?#") {
			return hostSet{}, fmt.Errorf("%q is not a host name or address, with an optional port", e)
		}
		p := hostPattern{name: name, port: port}
		if rest, wild := strings.CutPrefix(name, "*."); wild {
			if rest == "" || strings.Contains(rest, "*") {
				return hostSet{}, fmt.Errorf("%q: a wildcard is *.domain", e)
			}
			p.name, p.suffix = "."+rest, true
		} else if strings.Contains(name, "*") {
			return hostSet{}, fmt.Errorf("%q: a wildcard is *.domain", e)
		}
		hs.patterns = append(hs.patterns, p)
	}
	return hs, nil
}

// splitHost splits "name", "name:port", "1.2.3.4:80", "[::1]:80", "::1"
// or "[::1]" into a normalized name and a port ("" when none).
func splitHost(hostport string) (name, port string, ok bool) {
	h := hostport
	if host, p, err := net.SplitHostPort(hostport); err == nil {
		if p == "" {
			return "", "", false
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				return "", "", false
			}
		}
		h, port = host, p
	} else if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	} else if strings.Count(h, ":") == 1 {
		return "", "", false // a name with a bad port
	}
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if addr, err := netip.ParseAddr(h); err == nil {
		h = addr.Unmap().WithZone("").String()
	}
	return h, port, true
}

// allowed reports whether the handler answers to the Host header value:
// loopback names and addresses always, the listed ones besides.
func (hs hostSet) allowed(hostHeader string) bool {
	if hs.any {
		return true
	}
	name, port, ok := splitHost(hostHeader)
	if !ok || name == "" {
		return false
	}
	if isLoopbackName(name) {
		return true
	}
	for _, p := range hs.patterns {
		if p.port != "" && p.port != port {
			continue
		}
		if p.suffix && strings.HasSuffix(name, p.name) || !p.suffix && name == p.name {
			return true
		}
	}
	return false
}

// isLoopbackName: localhost, *.localhost (browsers resolve these to
// loopback themselves, RFC 6761), and loopback addresses.
func isLoopbackName(name string) bool {
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return true
	}
	addr, err := netip.ParseAddr(name)
	return err == nil && addr.Unmap().IsLoopback()
}

// isLoopbackAddr reports whether a RemoteAddr ("ip:port") is a loopback
// address.
func isLoopbackAddr(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}
