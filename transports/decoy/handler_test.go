package decoy

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ordinaryHeaders are the response headers nginx serving a static site sends; anything
// else (Via, X-Forwarded-For, X-Cache, …) would hint at a proxy.
var ordinaryHeaders = map[string]bool{
	"Server": true, "Date": true, "Content-Type": true, "Content-Length": true,
	"Last-Modified": true, "Etag": true, "Accept-Ranges": true, "Location": true,
	"Connection": true, "Content-Range": true,
}

func TestBuiltInSiteLooksLikeNginx(t *testing.T) {
	tests := []struct {
		name, method, path string
		header             map[string]string
		wantStatus         int
		wantType           string
		wantBody           string
	}{
		{"index", "GET", "/", nil, 200, "text/html", "Hollis &amp; Reed"},
		{"page", "GET", "/about.html", nil, 200, "text/html", "About us"},
		{"stylesheet", "GET", "/style.css", nil, 200, "text/css", "font-family"},
		{"robots", "GET", "/robots.txt", nil, 200, "text/plain", "User-agent"},
		{"head has no body", "HEAD", "/", nil, 200, "text/html", ""},
		{"missing page", "GET", "/wp-login.php", nil, 404, "text/html", "<center><h1>404 Not Found</h1></center>"},
		{"favicon missing as on small sites", "GET", "/favicon.ico", nil, 404, "text/html", "nginx"},
		{"escape attempt stays inside the site", "GET", "/../../etc/passwd", nil, 404, "text/html", "404 Not Found"},
		{"post to a page not allowed", "POST", "/", nil, 405, "text/html", "405 Not Allowed"},
		{"post to a missing page not found, as nginx", "POST", "/api/send", nil, 404, "text/html", "404 Not Found"},
		{"put not allowed", "PUT", "/api/send", nil, 405, "text/html", "405 Not Allowed"},
		{"range", "GET", "/robots.txt", map[string]string{"Range": "bytes=0-3"}, 206, "text/plain", "User"},
		{"conditional", "GET", "/", map[string]string{"If-Modified-Since": "Sat, 15 Mar 2025 00:00:00 GMT"}, 304, "", ""},
	}
	h := BuiltIn()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("%s %s: status %d, want %d", tt.method, tt.path, rec.Code, tt.wantStatus)
			}
			if got := rec.Header().Get("Server"); got != "nginx" {
				t.Errorf("Server header %q, want nginx", got)
			}
			if tt.wantType != "" && rec.Header().Get("Content-Type") != tt.wantType {
				t.Errorf("Content-Type %q, want %q", rec.Header().Get("Content-Type"), tt.wantType)
			}
			if !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("body %q does not contain %q", rec.Body.String(), tt.wantBody)
			}
			if tt.method == "HEAD" && rec.Body.Len() != 0 {
				t.Errorf("HEAD returned a body of %d bytes", rec.Body.Len())
			}
			for k := range rec.Header() {
				if !ordinaryHeaders[k] {
					t.Errorf("unexpected header %s: %q", k, rec.Header().Get(k))
				}
			}
		})
	}
}

func TestStaticDirectoryServesIndexesAndNeverLists(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "index.html"), "<h1>home</h1>")
	mustWrite(t, filepath.Join(dir, "blog", "index.html"), "<h1>blog</h1>")
	mustWrite(t, filepath.Join(dir, "files", "report.txt"), "quarterly")
	h, err := NewHandler(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path       string
		wantStatus int
		wantBody   string
	}{
		{"/", 200, "home"},
		{"/blog/", 200, "blog"},
		{"/blog", 301, "301 Moved Permanently"},
		{"/files/report.txt", 200, "quarterly"},
		{"/files/", 403, "403 Forbidden"},
		{"/nothing", 404, "404 Not Found"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
		if rec.Code != tt.wantStatus || !strings.Contains(rec.Body.String(), tt.wantBody) {
			t.Errorf("GET %s: got %d %q, want %d containing %q", tt.path, rec.Code, rec.Body.String(), tt.wantStatus, tt.wantBody)
		}
		if strings.Contains(rec.Body.String(), "report.txt") {
			t.Errorf("GET %s listed a directory: %q", tt.path, rec.Body.String())
		}
	}
}

func TestProxyForwardsWithoutRevealingClients(t *testing.T) {
	var gotXFF, gotHost string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotXFF, gotHost = r.Header.Get("X-Forwarded-For"), r.Host
		w.Header().Set("Server", "Apache")
		io.WriteString(w, "operator's site at "+r.URL.Path)
	}))
	defer upstream.Close()
	h, err := NewHandler("", upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/shop/", nil)
	req.RemoteAddr = "198.51.100.7:40000"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Body.String() != "operator's site at /shop/" {
		t.Fatalf("got %d %q, want the upstream's page", rec.Code, rec.Body.String())
	}
	if rec.Header().Get("Server") != "Apache" {
		t.Errorf("Server header %q, want the upstream's own", rec.Header().Get("Server"))
	}
	if gotXFF != "" {
		t.Errorf("upstream saw X-Forwarded-For %q, want none", gotXFF)
	}
	if gotHost != strings.TrimPrefix(upstream.URL, "http://") {
		t.Errorf("upstream saw Host %q, want its own", gotHost)
	}

	upstream.Close()
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), "502 Bad Gateway") {
		t.Errorf("upstream down: got %d %q, want nginx's 502 page", rec.Code, rec.Body.String())
	}
}

func TestNewHandlerRejectsBadConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	mustWrite(t, file, "x")
	tests := []struct {
		name, dir, proxy string
	}{
		{"both directory and proxy", t.TempDir(), "http://127.0.0.1:8080"},
		{"missing directory", filepath.Join(t.TempDir(), "absent"), ""},
		{"file as directory", file, ""},
		{"proxy without scheme", "", "127.0.0.1:8080"},
		{"proxy with other scheme", "", "ftp://127.0.0.1/"},
		{"unparseable proxy", "", "http://[::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewHandler(tt.dir, tt.proxy)
			if !errors.Is(err, ErrBadConfig) {
				t.Fatalf("NewHandler(%q, %q) = %v, want ErrBadConfig", tt.dir, tt.proxy, err)
			}
		})
	}
}

func mustWrite(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
