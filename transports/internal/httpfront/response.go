package httpfront

import (
	"bufio"
	"net/http"
	"slices"
	"time"
)

// WriteSwitchingProtocols writes the 101 response to a WebSocket Upgrade as nginx
// proxying one does (Server and Date first, then Connection and Upgrade, then extra's
// fields in sorted order), so a gateway that is its own front answers like one.
func WriteSwitchingProtocols(w *bufio.Writer, now time.Time, extra http.Header) error {
	w.WriteString("HTTP/1.1 101 Switching Protocols\r\nServer: nginx\r\nDate: ")
	w.WriteString(now.UTC().Format(http.TimeFormat))
	w.WriteString("\r\nConnection: upgrade\r\nUpgrade: websocket\r\n")
	keys := make([]string, 0, len(extra))
	for k := range extra {
		switch http.CanonicalHeaderKey(k) {
		case "Server", "Date", "Connection", "Upgrade":
		default:
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range extra[k] {
			w.WriteString(k + ": " + v + "\r\n")
		}
	}
	w.WriteString("\r\n")
	return w.Flush()
}
