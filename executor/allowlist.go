package executor

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/distcron/distcron/internal/errtext"
)

// AllowList says where an [HTTP] executor may send its request: which
// hosts the URL and its redirects may name, and which addresses it may
// connect to. Set it as HTTP.Allow for requests whose definition the
// program does not trust, such as HTTP jobs defined over the network.
// Create it with [ParseAllowList]; a list is immutable and safe for
// concurrent use, and should be shared by the executors it applies to
// (each list keeps its own pool of connections).
//
// A URL host (of the request or of a redirect) must match an entry:
//
//   - "example.com": that host name, on any port; "example.com:8443" or
//     "[::1]:8080": on that port only (a URL without a port has its
//     scheme's default port, 80 or 443);
//   - "*.example.com": any name ending in ".example.com", at any depth,
//     but not "example.com" itself; a port may follow;
//   - "*": any host name, and any IP address;
//   - "10.0.0.7" or "::1", optionally with a port: that IP address in the
//     URL; "10.0.0.0/8" or "fd00::/8": any IP address in that network.
//
// Host names are compared as written, ignoring ASCII case and a trailing
// dot; name patterns never match an IP address in a URL. Then, when the
// connection is made, the address the host name resolved to is checked
// (by net.Dialer.Control, before connecting, so a DNS answer cannot
// smuggle in another address): it must be a public unicast address, or be
// named by an address entry (with its port, if it has one) or lie in a
// CIDR entry. So loopback (127.0.0.0/8, ::1), link-local (169.254.0.0/16,
// fe80::/10, where cloud metadata services answer), private (10.0.0.0/8,
// 172.16.0.0/12, 192.168.0.0/16, fc00::/7), unspecified and multicast
// addresses, and the other special ranges that reach no public host (the
// shared address space 100.64.0.0/10, 0.0.0.0/8, 240.0.0.0/4, ...) are
// refused unless listed by address or CIDR, whatever name pointed to them.
// An IP address in a URL is checked up front. An IPv4-mapped IPv6
// address counts as its IPv4 address.
//
// Requests under an AllowList never go through a proxy: the executor could
// not check the addresses a proxy connects to. An empty list allows
// nothing.
type AllowList struct {
	names   []hostPattern
	anyName bool // "*"
	addrs   []addrEntry
	nets    []netip.Prefix

	once      sync.Once
	transport *http.Transport // for HTTP executors without a Client
}

// addrEntry is an address entry of an AllowList.
type addrEntry struct {
	addr netip.Addr // unmapped, without zone
	port string     // "" for any port
}

// ParseAllowList parses allow-list entries (see [AllowList] for their
// syntax). It fails on the first malformed one, with an error naming it
// and matching [ErrInvalid]. With no entries the list allows nothing.
func ParseAllowList(entries ...string) (*AllowList, error) {
	a := &AllowList{}
	for _, e := range entries {
		if err := a.add(e); err != nil {
			return nil, fmt.Errorf("%w: bad allow-list entry %s: %v", ErrInvalid, errtext.Name(e), err)
		}
	}
	return a, nil
}

func (a *AllowList) add(e string) error {
	if e == "*" {
		a.anyName = true
		return nil
	}
	if strings.Contains(e, "/") {
		if strings.Contains(e, "://") {
			return errors.New("a host, not a URL")
		}
		p, err := netip.ParsePrefix(e)
		if err != nil || p.Addr().Zone() != "" {
			return errors.New(`bad CIDR (want an address block such as "10.0.0.0/8")`)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		a.nets = append(a.nets, p.Masked())
		return nil
	}
	p, err := parseHostPattern(e)
	if err != nil {
		return err
	}
	if ip, err := netip.ParseAddr(p.host); err == nil && !p.suffix {
		a.addrs = append(a.addrs, addrEntry{addr: ip.WithZone("").Unmap(), port: p.port})
		return nil
	}
	a.names = append(a.names, p)
	return nil
}

// listedAddr reports whether an address or CIDR entry names ip on port.
func (a *AllowList) listedAddr(ip netip.Addr, port string) bool {
	ip = ip.WithZone("").Unmap()
	for _, e := range a.addrs {
		if e.addr == ip && (e.port == "" || e.port == port) {
			return true
		}
	}
	for _, n := range a.nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// checkURL returns why a request to u is refused, or nil: its host
// matches no entry, or is an IP address that is not public and not
// listed. The error matches [ErrHostNotAllowed].
func (a *AllowList) checkURL(u *url.URL) error {
	port := urlPort(u)
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		if a.listedAddr(ip, port) {
			return nil
		}
		if !a.anyName {
			return fmt.Errorf("%w: %s is not in the allow-list", ErrHostNotAllowed, u.Host)
		}
		if why := nonPublic(ip); why != "" {
			return addressError(net.JoinHostPort(host, port), why)
		}
		return nil
	}
	if a.anyName || (len(a.names) > 0 && hostAllowed(a.names, u)) { // hostAllowed(nil) allows all
		return nil
	}
	return fmt.Errorf("%w: %s is not in the allow-list", ErrHostNotAllowed, u.Host)
}

// control is the net.Dialer.Control of connections under a: it refuses,
// before connecting, an address that is not public unless an entry lists
// it, and any network but TCP. The dialer puts the error inside a
// *net.OpError, which the HTTP executor wraps: no second "distcron: ".
func (a *AllowList) control(network, address string, _ syscall.RawConn) error {
	if err := a.checkAddr(network, address); err != nil {
		return errtext.Nested(err)
	}
	return nil
}

// checkAddr returns why control refuses to connect to address, or nil.
func (a *AllowList) checkAddr(network, address string) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return addressError(address, "not a TCP address ("+network+")")
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return addressError(address, "not an IP address and port")
	}
	port := fmt.Sprint(ap.Port())
	if a.listedAddr(ap.Addr(), port) {
		return nil
	}
	if why := nonPublic(ap.Addr()); why != "" {
		return addressError(address, why)
	}
	return nil
}

// addressError is the error for a refused address; it matches
// [ErrAddressNotAllowed] and [ErrHostNotAllowed].
func addressError(address, why string) error {
	return &multiError{
		msg:  fmt.Sprintf("%v: %s is %s, and the allow-list does not list it by address or CIDR", ErrAddressNotAllowed, address, why),
		errs: []error{ErrAddressNotAllowed, ErrHostNotAllowed},
	}
}

// dialer returns a dialer that checks addresses as a does, with the
// timeouts of http.DefaultTransport.
func (a *AllowList) dialer() *net.Dialer {
	return &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: a.control}
}

// restrict makes t, a clone the caller owns, connect only where a allows.
func (a *AllowList) restrict(t *http.Transport) *http.Transport {
	t.Proxy = nil
	t.DialContext = a.dialer().DialContext
	return t
}

// sharedTransport returns the transport of the HTTP executors under a
// without a Client: the settings of http.DefaultTransport, restricted.
func (a *AllowList) sharedTransport() *http.Transport {
	a.once.Do(func() {
		a.transport = a.restrict(http.DefaultTransport.(*http.Transport).Clone())
	})
	return a.transport
}

// checkTransport reports why rt cannot be restricted by an AllowList:
// only an *http.Transport without dial functions of its own can be.
func checkTransport(rt http.RoundTripper) error {
	if rt == nil {
		return nil
	}
	t, ok := rt.(*http.Transport)
	if !ok {
		return fmt.Errorf("with Allow, Client.Transport must be nil or an *http.Transport, not %T", rt)
	}
	//lint:ignore SA1019 the deprecated Dial and DialTLS would bypass the check too
	if t.DialContext != nil || t.Dial != nil || t.DialTLSContext != nil || t.DialTLS != nil {
		return errors.New("with Allow, Client.Transport must not have its own dial functions: they would bypass the address check")
	}
	return nil
}

// urlPort returns u's port, or its scheme's default one.
func urlPort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch u.Scheme {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}
