package decoy

// HeadWatch follows the first bytes of a stream as nginx reads a request head. It is
// for a transport that carries something else where a website has its requests (utls
// carries the session right after TLS): a peer that sent a whole request, which nginx
// would answer at once, must be answered at once, not when the gateway gives up
// waiting for the rest of a session's hello. The zero value is ready.
type HeadWatch struct {
	r      *headReader
	whole  bool // a whole head came
	over   bool // the watch is done: a whole head came, or none can come
	nBytes int
}

// watchLimit bounds what a HeadWatch reads: nginx's largest head.
const watchLimit = headerBuffer + largeHeaderCount*largeHeaderBuffer

// Feed reads p, the stream's next bytes, and reports whether the bytes so far hold a
// whole request head nginx would serve; once they do, it says so for good. Once they
// cannot (nginx would refuse them, or the head would be too long), it reports false
// for good: a session's random bytes are refused within a few bytes, so the watch
// costs nothing after that.
func (w *HeadWatch) Feed(p []byte) bool {
	if w.r == nil {
		w.r = newHeadReader()
	}
	for _, c := range p {
		if w.over {
			return w.whole
		}
		if w.nBytes++; w.nBytes > watchLimit || w.r.fit() != nil {
			w.over = true
			return false
		}
		done, refused := w.r.feed(c)
		switch {
		case refused != nil:
			w.over = true
		case done:
			w.over, w.whole = true, true
		}
	}
	return w.whole
}
