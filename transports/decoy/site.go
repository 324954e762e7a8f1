package decoy

import (
	"embed"
	"io"
	"io/fs"
	"log"
	"net/http"
	"strconv"
	"time"
)

//go:embed site
var siteFiles embed.FS

// siteModTime is when the built-in site was "last edited": a fixed date some months
// back, as for a small site its owner rarely touches.
var siteModTime = time.Date(2025, time.March, 14, 9, 26, 53, 0, time.UTC)

// BuiltIn returns the built-in decoy: a small personal website with nothing on it that
// hints at a proxy, served as nginx would serve it.
func BuiltIn() http.Handler {
	sub, err := fs.Sub(siteFiles, "site")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return &static{files: sub, modTime: siteModTime}
}

// nginxTypes are nginx's mime.types entries for the files a small site has.
var nginxTypes = map[string]string{
	".html": "text/html",
	".htm":  "text/html",
	".css":  "text/css",
	".js":   "application/javascript",
	".txt":  "text/plain",
	".xml":  "text/xml",
	".json": "application/json",
	".png":  "image/png",
	".jpg":  "image/jpeg",
	".jpeg": "image/jpeg",
	".gif":  "image/gif",
	".svg":  "image/svg+xml",
	".ico":  "image/x-icon",
	".webp": "image/webp",
}

// writeError answers with the error page nginx shows by default for code, which may
// be one of nginx's own codes (494, 497) that go out as a 400 with a page of their own.
func writeError(w http.ResponseWriter, code int) {
	status, body := errorPage(code)
	h := w.Header()
	h.Set("Server", "nginx")
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Del("ETag")
	h.Del("Last-Modified")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// errorPage returns the status and the page nginx (server_tokens off) sends for code.
func errorPage(code int) (int, string) {
	page := func(title, heading, note string) string {
		if note != "" {
			note = "<center>" + note + "</center>\r\n"
		}
		return "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + heading +
			"</h1></center>\r\n" + note + "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	}
	switch code {
	case statusHeaderTooLarge:
		const note = "Request Header Or Cookie Too Large"
		return http.StatusBadRequest, page("400 "+note, "400 Bad Request", note)
	case statusToHTTPS:
		const note = "The plain HTTP request was sent to HTTPS port"
		return http.StatusBadRequest, page("400 "+note, "400 Bad Request", note)
	}
	title := strconv.Itoa(code) + " " + statusText(code)
	return code, page(title, title, "")
}

// statusText is nginx's reason phrase for code, where it is not Go's.
func statusText(code int) string {
	switch code {
	case http.StatusMethodNotAllowed:
		return "Not Allowed"
	case http.StatusRequestURITooLong:
		return "Request-URI Too Large"
	}
	return http.StatusText(code)
}

// PlainHTTPOnTLSPort answers a plain-HTTP request that reached a TLS port with the page
// nginx shows for it, then ends the conversation.
func PlainHTTPOnTLSPort() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		writeError(w, statusToHTTPS)
	})
}

var discardLog = log.New(io.Discard, "", 0)
