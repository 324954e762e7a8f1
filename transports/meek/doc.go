// Package meek is the meek transport: the session's bytes ride in the bodies of HTTP
// POSTs and their responses, so it passes any CDN or reverse proxy, with domain
// fronting. It is slower than the streaming transports; it is not an HTTP library.
//
// # Protocol
//
// After Tor's meek (meek-client, meek-server, lyrebird's meek_lite). The client opens
// a TLS connection to the front (the bridge address; SNI from servername=, a browser's
// ClientHello from package tlskit) and sends on it, one at a time, HTTP/1.1 requests
//
//	POST <path> HTTP/1.1
//	Host: <the real service, from url= or host=>
//	X-Session-Id: <base64 of 32 random bytes, one per carrier connection>
//	X-Session-Window: <bytes the client can take in the response>
//	X-Session-End: eof|close            (once the client has finished)
//	Content-Type: application/octet-stream
//	Content-Length: <0..64 KiB of upstream bytes, at most the server's window>
//
// A session is answered "200 OK" with the server's own X-Session-Window and
// X-Session-End fields and up to the client's window (at most 128 KiB) of downstream
// bytes, but only once the gateway has something to say in it, which it has only for
// a peer it accepted. Until then, and for anything else (another path or method, bad
// fields, a session the gateway rejected, no room for another session), the answer is
// the decoy website's answer to the same request: a prober that opens sessions, or
// replays a client's requests, sees the site. The client's Dial sends an empty opening
// request, which creates the session for the gateway's Accept; the client takes the
// site's answers in stride until the first 200, sending meanwhile no more than the
// window a session starts with (256 KiB).
//
// The windows keep both sides' buffers bounded (256 KiB each way, each side) without
// holding a request for room: a side whose buffer is full still polls, and still gets
// the other direction's bytes. X-Session-End carries half-close ("eof") and close
// ("close", the last request or response of a session), which Tor's meek lacks; a
// session nobody closes expires after 120 s without a request.
//
// # Timing
//
// The client polls again at once while bytes flow, else after 100 ms, growing ×1.5 up
// to 5 s; a Write ends the wait. The server holds a poll it has nothing for, so that a
// message that becomes ready meanwhile goes out at once: 100 ms for an idle poll, 10 ms
// (meek-server's turnaround) for a poll right after downstream bytes or a request that
// carried some, and up to 15 s for the request carrying a peer's first bytes, while the
// gateway judges them. Requests are sequential, so a held poll delays the client's next
// upstream bytes by up to as much: the holds are short for that reason.
package meek
