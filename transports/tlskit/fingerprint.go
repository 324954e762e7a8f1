package tlskit

import (
	"crypto/rand"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"path"
	"sort"
	"strconv"
	"strings"

	utls "github.com/refraction-networking/utls"
)

// The ClientHellos that real browsers sent, captured by scripts/capture-hellos.sh. The
// newest file per browser is used, so re-running the script is the whole update.
//
//go:embed hellos/*.hello
var helloFiles embed.FS

// Fingerprint names for fp=.
const (
	FPChrome  = "chrome"
	FPFirefox = "firefox"
	FPSafari  = "safari"
	FPRandom  = "random"
)

// ErrUnknownFingerprint is wrapped when fp= names no fingerprint this package has.
var ErrUnknownFingerprint = errors.New("unknown fingerprint")

// A profile is one browser's ClientHello, rebuilt for every connection.
type profile struct {
	name string
	// hello is the captured record; nil means utls's built-in builtin is used instead.
	hello   []byte
	builtin utls.ClientHelloID
	// shuffle permutes the extensions per connection, as Chrome has done since version
	// 110 (so JA3 is useless on it; JA4 sorts and stays stable). Firefox 153 keeps a
	// fixed order: four captures on Debian showed the same order every time.
	shuffle bool
	// echPayloadLens are the GREASE ECH payload sizes the browser picks from at random;
	// nil keeps the captured size. Chrome's, observed across captures of Chromium 156,
	// are 128, 160, 192 and 224 bytes before the 16-byte AEAD tag (BoringSSL rounds the
	// would-be inner hello up to a multiple of 32).
	echPayloadLens []uint16
}

// profileFor returns the profile for fp; "random" picks one of the browsers once, so a
// client keeps looking like one browser across its connections.
func profileFor(fp string) (*profile, error) {
	if fp == FPRandom {
		choices := []string{FPChrome, FPFirefox, FPSafari}
		fp = choices[mrand.IntN(len(choices))]
	}
	switch fp {
	case FPChrome:
		hello, err := newestHello("chromium")
		if err != nil {
			return nil, err
		}
		return &profile{name: fp, hello: hello, shuffle: true, echPayloadLens: []uint16{128, 160, 192, 224}}, nil
	case FPFirefox:
		hello, err := newestHello("firefox")
		if err != nil {
			return nil, err
		}
		return &profile{name: fp, hello: hello}, nil
	case FPSafari:
		// Safari has no Debian package to capture from; utls's own profile stands in.
		return &profile{name: fp, builtin: utls.HelloSafari_Auto}, nil
	}
	return nil, fmt.Errorf("%w %q (known: %s, %s, %s, %s)", ErrUnknownFingerprint, fp, FPChrome, FPFirefox, FPSafari, FPRandom)
}

// CheckFingerprint returns nil if fp names a fingerprint NewClient knows, or an error
// wrapping ErrUnknownFingerprint: for a listener that copies fp= into its bridge lines.
func CheckFingerprint(fp string) error {
	_, err := profileFor(fp)
	return err
}

// newestHello returns the embedded capture <browser>-<major>.hello with the highest major.
func newestHello(browser string) ([]byte, error) {
	return newestCapture(helloFiles, "hellos", browser)
}

func newestCapture(fsys fs.FS, dir, browser string) ([]byte, error) {
	names, err := fs.Glob(fsys, path.Join(dir, browser+"-*.hello"))
	if err != nil || len(names) == 0 {
		return nil, fmt.Errorf("no captured %s ClientHello in %s (run scripts/capture-hellos.sh)", browser, dir)
	}
	version := func(name string) int {
		v, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(path.Base(name), browser+"-"), ".hello"))
		return v
	}
	sort.Slice(names, func(i, j int) bool { return version(names[i]) > version(names[j]) })
	return fs.ReadFile(fsys, names[0])
}

// spec builds a fresh ClientHelloSpec for one connection from the captured hello:
// utls regenerates the random, session ID, key shares (X25519MLKEM768, X25519, P-256)
// and the GREASE values it knows of; this adds what it does not do for us.
func (p *profile) spec(serverName string) (*utls.ClientHelloSpec, error) {
	// Blunt mimicry keeps extensions utls has no type for (Chromium 156's 0xca34, say)
	// as generic extensions carrying the browser's bytes.
	f := utls.Fingerprinter{AllowBluntMimicry: true}
	spec, err := f.RawClientHello(p.hello)
	if err != nil {
		return nil, fmt.Errorf("rebuild %s ClientHello: %w", p.name, err)
	}
	for _, e := range spec.Extensions {
		switch e := e.(type) {
		case *utls.SNIExtension:
			e.ServerName = serverName
		case *utls.SignatureAlgorithmsExtension:
			// Chrome GREASEs its signature algorithms too, with a value of its own.
			for i, s := range e.SupportedSignatureAlgorithms {
				if isGREASE(uint16(s)) {
					e.SupportedSignatureAlgorithms[i] = utls.SignatureScheme(randomGREASE())
				}
			}
		case *utls.GREASEEncryptedClientHelloExtension:
			if p.echPayloadLens != nil {
				e.CandidatePayloadLens = p.echPayloadLens
			}
		}
	}
	if p.shuffle {
		shuffleExtensions(spec.Extensions)
	}
	return spec, nil
}

// shuffleExtensions permutes the extensions in place, uniformly, as BoringSSL does:
// GREASE stays first and last, padding and pre_shared_key stay at the end.
func shuffleExtensions(exts []utls.TLSExtension) {
	var movable []int
	for i, e := range exts {
		switch e.(type) {
		case *utls.UtlsGREASEExtension, *utls.UtlsPaddingExtension, utls.PreSharedKeyExtension:
		default:
			movable = append(movable, i)
		}
	}
	mrand.Shuffle(len(movable), func(i, j int) {
		a, b := movable[i], movable[j]
		exts[a], exts[b] = exts[b], exts[a]
	})
}

// randomGREASE returns one of the sixteen 0x?a?a values at random.
func randomGREASE() uint16 {
	var b [2]byte
	rand.Read(b[:])
	v := binary.BigEndian.Uint16(b[:])&0xf0 | 0x0a
	return v<<8 | v
}
