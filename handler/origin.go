package handler

import (
	"net/http"
	"net/url"
	"strings"
)

// OriginPolicy says which web pages may use the server: it is the one rule behind the CORS
// headers of long-polling and the Origin check of WebSocket upgrades. The zero value allows
// same-origin pages and non-browser clients only.
type OriginPolicy struct {
	// Allow lists origins ("https://app.example", "http://localhost:3000"): a page there may
	// poll with the user's cookies (CORS with credentials, which the official client's
	// withCredentials option needs) and open WebSockets. "*" lets a page anywhere poll, but
	// without credentials (Access-Control-Allow-Origin: *), and opens no WebSocket to it: a
	// WebSocket carries the user's cookies whatever the page asks. "null" (sandboxed frames,
	// file: pages) is never allowed with credentials, even when listed.
	Allow []string
	// AnyWebSocket turns the WebSocket Origin check off: a page on any site may open a WebSocket,
	// with the user's cookies. For servers that authenticate with a token, never with cookies.
	AnyWebSocket bool
}

// allows reports whether origin is listed (with credentials), and whether "*" is.
func (p OriginPolicy) allows(origin string) (listed, anyOrigin bool) {
	for _, a := range p.Allow {
		if a == "*" {
			anyOrigin = true
			continue
		}
		if origin != "null" && strings.EqualFold(strings.TrimSuffix(a, "/"), origin) {
			listed = true
		}
	}
	return listed, anyOrigin
}

// CORS returns middleware that answers CORS for the wrapped handler by the policy: a listed
// origin gets itself and Access-Control-Allow-Credentials, any other origin gets "*" without
// credentials when "*" is listed, and nothing otherwise (the browser then refuses to let the
// page read the answer). Preflight requests (OPTIONS) are answered here with 204.
func (p OriginPolicy) CORS() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			origin := r.Header.Get("Origin")
			allowed := false
			if origin != "" && len(p.Allow) > 0 {
				h := w.Header()
				h.Add("Vary", "Origin")
				switch listed, anyOrigin := p.allows(origin); {
				case listed:
					h.Set("Access-Control-Allow-Origin", origin)
					h.Set("Access-Control-Allow-Credentials", "true")
					allowed = true
				case anyOrigin:
					h.Set("Access-Control-Allow-Origin", "*")
					allowed = true
				}
			}
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				if allowed {
					h := w.Header()
					h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
					if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
						h.Set("Access-Control-Allow-Headers", strings.ToLower(req))
					}
					h.Set("Access-Control-Max-Age", "86400")
				}
				w.WriteHeader(http.StatusNoContent)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// CheckWebSocket decides whether a WebSocket upgrade with these Origin and Host headers may
// proceed (RFC 6455 §10.2): one without an Origin (not a browser, such as the Node client), one
// from a page on the server's own host (any scheme: a TLS proxy may stand in front), and one
// from a listed origin may; any other is refused with a *RequestError: 403, Engine.IO code 4
// ("Forbidden"). AnyWebSocket admits every origin.
func (p OriginPolicy) CheckWebSocket(origin, host string) error {
	if origin == "" || p.AnyWebSocket {
		return nil
	}
	if u, err := url.Parse(origin); err == nil && u.Host != "" && strings.EqualFold(u.Host, host) {
		return nil
	}
	if listed, _ := p.allows(origin); listed {
		return nil
	}
	return requestError(errForbidden)
}
