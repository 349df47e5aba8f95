package executor

import "net/netip"

// specialRanges are the address ranges, besides those the netip.Addr
// predicates name, that [nonPublic] refuses: they reach no public host, or
// reach private ones (a cloud's metadata service answers at
// 100.100.100.200 in the shared address space).
var specialRanges = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), `in "this network" (0.0.0.0/8)`},
	{netip.MustParsePrefix("100.64.0.0/10"), "in the shared address space (100.64.0.0/10)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol assignment (192.0.0.0/24)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address (198.18.0.0/15)"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved or broadcast (240.0.0.0/4)"},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible (::/96)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64 (64:ff9b:1::/48)"},
	{netip.MustParsePrefix("100::/64"), "discard-only (100::/64)"},
	{netip.MustParsePrefix("fec0::/10"), "site-local (fec0::/10)"},
}

var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96") // the IPv4 address in the last 32 bits
	sixTo4 = netip.MustParsePrefix("2002::/16")    // the IPv4 address in bits 16 to 47
)

// nonPublic returns why ip is not a public unicast address, such as
// "loopback" or "private", or "" when it is public. An IPv4 address
// mapped into IPv6 (::ffff:a.b.c.d), or embedded in a NAT64 or 6to4
// address, is judged as that IPv4 address.
func nonPublic(ip netip.Addr) string {
	ip = ip.WithZone("").Unmap()
	switch {
	case !ip.IsValid():
		return "not an IP address"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsLinkLocalUnicast():
		return "link-local" // 169.254.0.0/16 and fe80::/10: cloud metadata services
	case ip.IsMulticast():
		return "multicast"
	case ip.IsPrivate():
		return "private" // 10/8, 172.16/12, 192.168/16, fc00::/7
	}
	for _, r := range specialRanges {
		if r.prefix.Contains(ip) {
			return r.what
		}
	}
	if ip.Is6() {
		b := ip.As16()
		var v4 netip.Addr
		switch {
		case nat64.Contains(ip):
			v4 = netip.AddrFrom4([4]byte(b[12:16]))
		case sixTo4.Contains(ip):
			v4 = netip.AddrFrom4([4]byte(b[2:6]))
		}
		if v4.IsValid() {
			if why := nonPublic(v4); why != "" {
				return why + " (embedded IPv4 " + v4.String() + ")"
			}
		}
	}
	return ""
}
