package webtest

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/nginxtest"
)

// TestShippedNginxConfigsLogNoVisitor runs each shipped site while its gateway is down,
// so that every visit to the secret path fails upstream (the case in which nginx's
// error messages name the client and the request), and wants neither nginx's access
// log nor its error log to hold a client's address or the secret path.
func TestShippedNginxConfigsLogNoVisitor(t *testing.T) {
	const secret = "/s3cr3t-p4th-do-not-log"
	down := func(t *testing.T) string { return nginxtest.FreeAddr(t, GatewayHost) } // nothing listens
	sites := []struct {
		conf string
		vars func(t *testing.T, listen string) map[string]string
		// request is a client's visit to the secret path.
		request func(url string) *http.Request
	}{
		{"webtunnel.conf", func(t *testing.T, listen string) map[string]string {
			return map[string]string{"SITE_ROOT": Site(t), "SECRET_PATH": secret, "GATEWAY": down(t)}
		}, upgradeRequest},
		{"websocket.conf", func(t *testing.T, listen string) map[string]string {
			return map[string]string{"SITE_ROOT": Site(t), "SECRET_PATH": secret, "GATEWAY_URL": "https://" + down(t), "ORIGIN_NAME": "origin.example"}
		}, upgradeRequest},
		{"meek.conf", func(t *testing.T, listen string) map[string]string {
			return map[string]string{"ROOT": Site(t), "MEEK_PATH": secret, "GATEWAY": down(t), "SITE_LOOPBACK": nginxtest.FreeAddr(t, FrontHost)}
		}, func(url string) *http.Request {
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader("meek bytes"))
			req.Header.Set("X-Session-Id", "c2Vzc2lvbi1pZC0xMjM0NTY3OA")
			return req
		}},
	}
	for _, site := range sites {
		t.Run(site.conf, func(t *testing.T) {
			const name = "www.hollowpine.example"
			listen := nginxtest.FreeAddr(t, FrontHost)
			cert, key := Certificate(t, name)
			vars := site.vars(t, listen)
			vars["LISTEN"], vars["SERVER_NAME"], vars["CERT"], vars["KEY"] = listen, name, cert, key
			n := StartNginx(t, site.conf, vars, listen)
			client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{ServerName: name, RootCAs: Roots(t)},
			}}
			url := "https://" + listen
			for _, req := range []*http.Request{mustGet(url + "/"), site.request(url + secret)} {
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
				}
				resp.Body.Close()
				if req.URL.Path == secret && resp.StatusCode != http.StatusBadGateway {
					t.Fatalf("%s %s: %s; want 502, the gateway being down", req.Method, req.URL.Path, resp.Status)
				}
			}
			n.Stop() // the logs are complete once nginx has exited
			for file, log := range map[string]string{"access log": n.AccessLog(), "error log": n.ErrorLog()} {
				for _, leak := range []string{"127.0.0.1", "client:", secret} {
					if strings.Contains(log, leak) {
						t.Errorf("nginx's %s holds %q:\n%s", file, leak, log)
					}
				}
			}
		})
	}
}

func upgradeRequest(url string) *http.Request {
	req := mustGet(url)
	req.Header.Set("Connection", "upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	return req
}

func mustGet(url string) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	return req
}
