package decoy

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path"
	"strings"
	"time"
)

// ErrBadConfig is wrapped by NewHandler's errors about its arguments.
var ErrBadConfig = errors.New("bad decoy configuration")

// NewHandler returns the decoy website: the static files under dir, or a reverse proxy
// to the operator's proxyURL, or, when both are empty, a small built-in site. Setting
// both is an error: the operator meant one of them.
func NewHandler(dir, proxyURL string) (http.Handler, error) {
	switch {
	case dir != "" && proxyURL != "":
		return nil, fmt.Errorf("%w: both a directory (%s) and a proxy URL (%s) given; choose one", ErrBadConfig, dir, proxyURL)
	case proxyURL != "":
		return newProxy(proxyURL)
	case dir != "":
		st, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("%w: decoy directory: %w", ErrBadConfig, err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("%w: decoy directory %s is not a directory", ErrBadConfig, dir)
		}
		return &static{files: os.DirFS(dir)}, nil
	default:
		return BuiltIn(), nil
	}
}

// newProxy forwards every request to the operator's real site, as a CDN or a front
// nginx would. It adds no X-Forwarded-For: the upstream need not learn client addresses.
func newProxy(raw string) (http.Handler, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: proxy URL: %w", ErrBadConfig, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: proxy URL %q: want http:// or https:// and a host", ErrBadConfig, raw)
	}
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			writeError(w, http.StatusBadGateway)
		},
		ErrorLog: discardLog,
	}, nil
}

// static serves files the way nginx's default location does: index.html for a
// directory, no directory listings, nginx's own error pages.
type static struct {
	files fs.FS
	// modTime overrides the files' times when set (embedded files have none).
	modTime time.Time
}

func (s *static) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Server", "nginx")
	// nginx's static module refuses other methods at once, but looks a POST's file
	// up first: a POST to a missing page is a 404, to an existing one a 405.
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" {
		name = "."
	}
	f, st, err := s.open(name)
	if err == nil && st.IsDir() {
		f.Close()
		if !strings.HasSuffix(r.URL.Path, "/") {
			w.Header().Set("Location", r.URL.Path+"/")
			writeError(w, http.StatusMovedPermanently)
			return
		}
		f, st, err = s.open(path.Join(name, "index.html"))
		if err != nil {
			writeError(w, http.StatusForbidden) // nginx: a directory without an index
			return
		}
	}
	if err != nil {
		writeError(w, http.StatusNotFound)
		return
	}
	defer f.Close()
	if r.Method == http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed)
		return
	}
	rs, ok := f.(interface {
		Read([]byte) (int, error)
		Seek(int64, int) (int64, error)
	})
	if !ok {
		writeError(w, http.StatusInternalServerError)
		return
	}
	mod := st.ModTime()
	if !s.modTime.IsZero() {
		mod = s.modTime
	}
	// nginx's ETag is the file's mtime and size in hex; its types carry no charset.
	w.Header().Set("ETag", fmt.Sprintf(`"%x-%x"`, mod.Unix(), st.Size()))
	if ct, ok := nginxTypes[path.Ext(st.Name())]; ok {
		w.Header().Set("Content-Type", ct)
	}
	http.ServeContent(w, r, st.Name(), mod, rs)
}

func (s *static) open(name string) (fs.File, fs.FileInfo, error) {
	f, err := s.files.Open(name)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}
