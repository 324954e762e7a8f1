package censor

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// adminHelp is what GET / on the admin port answers.
const adminHelp = `censor admin
GET  /flows                       running flows (JSON)
GET  /decisions                   decisions so far (JSON)
POST /kill?transport=T&mode=M     cut flows: flow=ID, route=NAME or transport=LABEL
                                  (at least one); mode=silent (default), reset or freeze
GET  /policies                    the policies new flows meet, one a line
PUT  /policies                    replace them: one --policy spec a line in the body
GET  /ca.pem                      the censor's root CA certificate
`

// AdminHandler serves the censor's admin API (see adminHelp): tests and testers kill
// flows and escalate policies with it while traffic runs. Serve it on loopback only.
func (c *Censor) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, adminHelp)
	})
	mux.HandleFunc("GET /flows", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, c.Flows()) })
	mux.HandleFunc("GET /decisions", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, c.Decisions()) })
	mux.HandleFunc("POST /kill", c.serveKill)
	mux.HandleFunc("GET /policies", func(w http.ResponseWriter, _ *http.Request) {
		for _, p := range c.Policies() {
			fmt.Fprintln(w, p.String())
		}
	})
	mux.HandleFunc("PUT /policies", c.servePolicies)
	mux.HandleFunc("GET /ca.pem", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Write(c.CACertPEM())
	})
	return mux
}

func (c *Censor) serveKill(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sel := Selector{Route: q.Get("route"), Transport: q.Get("transport")}
	if v := q.Get("flow"); v != "" {
		id, err := strconv.ParseUint(v, 10, 64)
		if err != nil || id == 0 {
			http.Error(w, fmt.Sprintf("flow=%q: want a flow ID from /flows", v), http.StatusBadRequest)
			return
		}
		sel.Flow = id
	}
	mode, err := ParseKillMode(cmp.Or(q.Get("mode"), string(KillSilent)))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n, err := c.Kill(sel, mode)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, map[string]int{"killed": n})
}

func (c *Censor) servePolicies(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var specs []string
	for _, line := range strings.Split(string(body), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			specs = append(specs, line)
		}
	}
	ps, err := ParsePolicies(specs)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.SetPolicies(ps...)
	for _, p := range ps {
		fmt.Fprintln(w, p.String())
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
