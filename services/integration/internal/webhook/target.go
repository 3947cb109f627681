package webhook

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// cgnat is the shared address space of carrier-grade NAT (RFC 6598):
// not routable on the internet, so as private as 10/8 for SSRF.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// Blocked reports whether ip is an address a webhook may not reach without
// the tenant's allowance: loopback, private, link-local (which holds cloud
// metadata endpoints), unspecified, multicast or shared NAT space.
func Blocked(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() || cgnat.Contains(ip)
}

// Endpoint returns scheme://host:port of a target URL: what a circuit
// breaker is kept for.
func Endpoint(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	return u.Scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// checkTarget parses a target URL and refuses what a subscription may not
// target. Names are resolved only at connect time, where the address is
// checked again: a name that resolves to a private address now could
// resolve elsewhere later, and the other way round.
func checkTarget(raw string, requireHTTPS, allowPrivate bool) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("is required")
	}
	if len(raw) > maxTargetURL {
		return nil, fmt.Errorf("must be at most %d characters", maxTargetURL)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("must be an absolute URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && !requireHTTPS:
	default:
		return nil, fmt.Errorf("must be an https URL")
	}
	if u.User != nil {
		return nil, fmt.Errorf("must not carry credentials")
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("must not have a fragment")
	}
	if allowPrivate {
		return u, nil
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return nil, fmt.Errorf("must not name a loopback host")
	}
	if ip, err := netip.ParseAddr(host); err == nil && Blocked(ip) {
		return nil, fmt.Errorf("must not name a private, loopback or link-local address")
	}
	return u, nil
}
