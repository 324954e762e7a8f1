package decoy

import (
	"embed"
	"fmt"
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

// writeError answers with the error page nginx shows by default for code.
func writeError(w http.ResponseWriter, code int) {
	text := http.StatusText(code)
	if code == http.StatusMethodNotAllowed {
		text = "Not Allowed" // nginx's wording
	}
	body := fmt.Sprintf("<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n", code, text, code, text)
	h := w.Header()
	h.Set("Server", "nginx")
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Del("ETag")
	h.Del("Last-Modified")
	w.WriteHeader(code)
	io.WriteString(w, body)
}

// PlainHTTPOnTLSPort answers a plain-HTTP request that reached a TLS port with the page
// nginx shows for it, then ends the conversation.
func PlainHTTPOnTLSPort() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const msg = "The plain HTTP request was sent to HTTPS port"
		body := "<html>\r\n<head><title>400 " + msg + "</title></head>\r\n<body>\r\n" +
			"<center><h1>400 Bad Request</h1></center>\r\n<center>" + msg + "</center>\r\n" +
			"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
		h := w.Header()
		h.Set("Server", "nginx")
		h.Set("Content-Type", "text/html")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		h.Set("Connection", "close")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, body)
	})
}

var discardLog = log.New(io.Discard, "", 0)
