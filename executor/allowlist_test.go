package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

func mustAllow(t *testing.T, entries ...string) *AllowList {
	t.Helper()
	a, err := ParseAllowList(entries...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// The address classifier, on parsed addresses: nothing is dialled.
func TestNonPublicAddresses(t *testing.T) {
	t.Parallel()
	refused := []string{
		"127.0.0.1", "127.8.9.10", "::1", // loopback
		"0.0.0.0", "::", "0.1.2.3", // unspecified, "this network"
		"169.254.169.254", "169.254.0.1", "fe80::1", "fe80::1%eth0", // link-local, cloud metadata
		"10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "fc00::1", "fd00:ec2::254", // private
		"224.0.0.1", "239.255.255.250", "ff02::1", "ff05::2", // multicast
		"100.100.100.200", "100.64.0.1", // shared address space (a cloud metadata service)
		"255.255.255.255", "240.0.0.1", "192.0.0.1", "198.18.0.1", "fec0::1", "100::1",
		"::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", // IPv4-mapped
		"::127.0.0.1",                                           // IPv4-compatible
		"64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1", "64:ff9b:1::1", // NAT64 of metadata, of loopback; local-use NAT64
		"2002:a9fe:a9fe::1", "2002:7f00:1::1", // 6to4 of metadata, of loopback
	}
	public := []string{
		"8.8.8.8", "1.1.1.1", "172.32.0.1", "172.15.255.255", "100.128.0.1", "169.253.0.1", "192.169.0.1",
		"2606:4700:4700::1111", "2a00:1450:4001:80b::200e", "64:ff9b::808:808", "2002:808:808::1",
	}
	for _, s := range refused {
		if why := nonPublic(netip.MustParseAddr(s)); why == "" {
			t.Errorf("%s is taken for a public address", s)
		}
	}
	for _, s := range public {
		if why := nonPublic(netip.MustParseAddr(s)); why != "" {
			t.Errorf("%s is refused as %s", s, why)
		}
	}
}

// The dial-time check refuses before connecting: it is called with the
// resolved address, and nothing is dialled here.
func TestAllowListControl(t *testing.T) {
	t.Parallel()
	tests := []struct {
		allow []string
		addr  string
		ok    bool
	}{
		{allow: []string{"*"}, addr: "169.254.169.254:80"},
		{allow: []string{"*"}, addr: "[fd00:ec2::254]:80"},
		{allow: []string{"*"}, addr: "[::ffff:169.254.169.254]:80"},
		{allow: []string{"*"}, addr: "127.0.0.1:8080"},
		{allow: []string{"*"}, addr: "10.0.0.7:443"},
		{allow: []string{"*"}, addr: "8.8.8.8:443", ok: true},
		{allow: []string{"example.com"}, addr: "[2606:4700:4700::1111]:443", ok: true},
		{allow: []string{"example.com"}, addr: "192.168.0.10:443"},
		{allow: []string{"example.com", "10.0.0.7"}, addr: "10.0.0.7:443", ok: true},
		{allow: []string{"example.com", "10.0.0.7"}, addr: "10.0.0.8:443"},
		{allow: []string{"example.com", "10.0.0.7:8443"}, addr: "10.0.0.7:8443", ok: true},
		{allow: []string{"example.com", "10.0.0.7:8443"}, addr: "10.0.0.7:443"},
		{allow: []string{"*.corp.example", "10.0.0.0/8"}, addr: "10.200.3.4:80", ok: true},
		{allow: []string{"*.corp.example", "10.0.0.0/8"}, addr: "[::ffff:10.200.3.4]:80", ok: true},
		{allow: []string{"*.corp.example", "10.0.0.0/8"}, addr: "172.16.0.1:80"},
		{allow: []string{"*", "169.254.169.254/32"}, addr: "169.254.169.254:80", ok: true},
		{allow: []string{"*", "fe80::/10"}, addr: "[fe80::1%eth0]:80", ok: true},
		{allow: []string{"*", "127.0.0.0/8"}, addr: "[::1]:80"},
		{allow: []string{"*", "::1"}, addr: "[::1]:80", ok: true},
	}
	for _, tt := range tests {
		a := mustAllow(t, tt.allow...)
		err := a.control("tcp", tt.addr, nil)
		if tt.ok {
			if err != nil {
				t.Errorf("%q refuses %s: %v", tt.allow, tt.addr, err)
			}
			continue
		}
		if !errors.Is(err, ErrAddressNotAllowed) || !errors.Is(err, ErrHostNotAllowed) {
			t.Errorf("%q: dialling %s: %v, want ErrAddressNotAllowed", tt.allow, tt.addr, err)
		}
	}
	if err := mustAllow(t, "*").control("udp", "8.8.8.8:53", nil); err == nil {
		t.Error("a UDP dial was allowed")
	}
	// The dialer puts the error inside its own (*net.OpError), which
	// Execute wraps: it does not say "distcron: " again.
	err := mustAllow(t, "*").control("tcp4", "169.254.169.254:80", nil)
	if want := "address not allowed: 169.254.169.254:80 is link-local"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want it to start with %q", err, want)
	}
}

func TestParseAllowList(t *testing.T) {
	t.Parallel()
	for _, good := range [][]string{
		{"*"}, {"example.com", "*.example.com:443", "10.0.0.7", "[::1]:8080", "10.0.0.0/8", "fd00::/8", "10.1.2.3/8"},
	} {
		if _, err := ParseAllowList(good...); err != nil {
			t.Errorf("ParseAllowList(%q) = %v", good, err)
		}
	}
	for _, tt := range []struct{ entry, msg string }{
		{"", `bad allow-list entry "": empty host`},
		{"10.0.0.0/33", `bad allow-list entry "10.0.0.0/33": bad CIDR`},
		{"10.0.0.0/8:80", `bad allow-list entry "10.0.0.0/8:80": bad CIDR`},
		{"example.com/8", `bad allow-list entry "example.com/8": bad CIDR`},
		{"*:443", `bad allow-list entry "*:443"`},
		{"ex*.com", `bad allow-list entry "ex*.com"`},
		{"http://example.com", `bad allow-list entry "http://example.com"`},
	} {
		_, err := ParseAllowList("example.org", tt.entry)
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("ParseAllowList(%q) = %v, want an error containing %q", tt.entry, err, tt.msg)
		}
	}
}

// Against servers on 127.0.0.1: loopback is refused unless the list names
// it by address or CIDR, whether the URL names it by address or by a name
// that resolves to it.
func TestHTTPAllowListAddresses(t *testing.T) {
	t.Parallel()
	srv, n := countingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") })
	port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	byName := "http://localhost:" + port + "/"
	tests := []struct {
		name    string
		allow   []string
		url     string
		ok      bool
		invalid bool // refused by Validate, before any I/O
	}{
		{name: "star refuses loopback", allow: []string{"*"}, url: srv.URL, invalid: true},
		{name: "CIDR", allow: []string{"127.0.0.0/8"}, url: srv.URL, ok: true},
		{name: "address", allow: []string{"127.0.0.1"}, url: srv.URL, ok: true},
		{name: "address and port", allow: []string{"127.0.0.1:" + port}, url: srv.URL, ok: true},
		{name: "address, other port", allow: []string{"127.0.0.1:1"}, url: srv.URL, invalid: true},
		{name: "name resolving to loopback", allow: []string{"localhost"}, url: byName},
		{name: "star, name resolving to loopback", allow: []string{"*"}, url: byName},
		{name: "name and CIDR", allow: []string{"localhost", "127.0.0.0/8"}, url: byName, ok: true},
		{name: "CIDR alone allows no name", allow: []string{"127.0.0.0/8"}, url: byName, invalid: true},
		{name: "empty list", allow: []string{}, url: srv.URL, invalid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := n.Load()
			h := &HTTP{URL: tt.url, Allow: mustAllow(t, tt.allow...)}
			res := h.Execute(context.Background())
			sent := n.Load() - before
			if tt.ok {
				if res.Err != nil || sent != 1 || string(res.Output) != "hi" {
					t.Errorf("Err = %v, %d requests, output %q; want nil, 1, hi", res.Err, sent, res.Output)
				}
				return
			}
			if sent != 0 {
				t.Errorf("%d requests reached the server", sent)
			}
			if !errors.Is(res.Err, ErrHostNotAllowed) || res.ExitCode != -1 {
				t.Errorf("Result = %v, %d; want ErrHostNotAllowed, -1", res.Err, res.ExitCode)
			}
			if errors.Is(res.Err, ErrInvalid) != tt.invalid || (h.Validate() != nil) != tt.invalid {
				t.Errorf("Err = %v, Validate = %v; want refused by Validate: %v", res.Err, h.Validate(), tt.invalid)
			}
			if !tt.invalid && !errors.Is(res.Err, ErrAddressNotAllowed) {
				t.Errorf("Err = %v, want ErrAddressNotAllowed from the dial", res.Err)
			}
		})
	}
}

// A redirect to a name the list allows is still refused when the name
// resolves to an address the list does not; so is one to such an address.
func TestHTTPAllowListRedirects(t *testing.T) {
	t.Parallel()
	srv, otherPort, otherHits, allow := redirectingServers(t)

	clients := map[string]*http.Client{
		"default client":           nil,
		"own client and transport": {Transport: &http.Transport{}},
	}
	for name, c := range clients {
		t.Run(name, func(t *testing.T) {
			res := (&HTTP{URL: srv.URL + "/by-name", Allow: allow, Client: c}).Execute(context.Background())
			if !errors.Is(res.Err, ErrAddressNotAllowed) || errors.Is(res.Err, ErrInvalid) {
				t.Errorf("redirect to localhost: Err = %v, want ErrAddressNotAllowed", res.Err)
			}
			res = (&HTTP{URL: srv.URL + "/by-address", Allow: allow, Client: c}).Execute(context.Background())
			if !errors.Is(res.Err, ErrHostNotAllowed) || errors.Is(res.Err, ErrInvalid) || res.ExitCode != http.StatusFound {
				t.Errorf("redirect to 127.0.0.1:%s: Result = %v, %d; want ErrHostNotAllowed, 302", otherPort, res.Err, res.ExitCode)
			}
			if otherHits.Load() != 0 {
				t.Errorf("a redirect reached the other server")
			}
			res = (&HTTP{URL: srv.URL + "/home", Allow: allow, Client: c}).Execute(context.Background())
			if res.Err != nil || string(res.Output) != "done" {
				t.Errorf("redirect to an allowed address: Result = %v, %q", res.Err, res.Output)
			}
		})
	}

	// A client whose transport the executor cannot give the address check
	// to is refused up front.
	for name, c := range map[string]*http.Client{
		"round tripper": {Transport: roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("no") })},
		"own dialer":    {Transport: &http.Transport{DialContext: (&net.Dialer{}).DialContext}},
	} {
		err := (&HTTP{URL: srv.URL, Allow: allow, Client: c}).Validate()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(fmt.Sprint(err), "Allow") {
			t.Errorf("%s: Validate = %v, want ErrInvalid about Allow", name, err)
		}
	}
}

// redirectingServers starts a server whose /by-name and /by-address
// redirect to another loopback server (by name, by address), /home to its
// own /done (otherPort is the other server's port), and an AllowList that allows the first server (by address
// and port) and the name localhost. otherHits counts requests that reached
// the other server.
func redirectingServers(t *testing.T) (srv *httptest.Server, otherPort string, otherHits *atomic.Int64, allow *AllowList) {
	t.Helper()
	other, otherHits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {})
	otherPort = strconv.Itoa(other.Listener.Addr().(*net.TCPAddr).Port)
	srv, _ = countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/by-name":
			http.Redirect(w, r, "http://localhost:"+otherPort+"/", http.StatusFound)
		case "/by-address":
			http.Redirect(w, r, "http://127.0.0.1:"+otherPort+"/", http.StatusFound)
		case "/home":
			http.Redirect(w, r, "/done", http.StatusFound)
		default:
			io.WriteString(w, "done")
		}
	})
	srvPort := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	allow = mustAllow(t, "127.0.0.1:"+srvPort, "localhost")
	return srv, otherPort, otherHits, allow
}
