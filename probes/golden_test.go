package probes

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client/failure"
	"github.com/umbrella-edge/edge/internal/jsonschema"
	"github.com/umbrella-edge/edge/transports/trust"
)

var update = flag.Bool("update", false, "rewrite testdata/measurement.golden.json")

const (
	testKey    = "BDMOLvMFu-o4vrNgbSJiR-HXW1TE0iSvmgexvrCb5MU"
	testSecret = "IRTI2TGNGBW5buikogrW-ySihqibjV4AldZkH-lYmQI"
	secretPath = "p4xq9s0m3kz7"
	testCert   = "ssH+9rP8dG2NtGr2gOVWk9pJZGsahD5PnMiJxYjsMoO2U6XYcBSvy6Z8AYvcbKeqTqDXUw"
	testPin    = "oUx6KFFhOlZ5_gOR2L1SZcV0e3KnNmTK3w8jnKk2pGw"
)

func mustLine(t *testing.T, s string) bridge.Line {
	t.Helper()
	b, err := bridge.Parse(s + " key=" + testKey + " secret=" + testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goldenResults are results of every kind the probe writes, with fixed times: a line
// that works over TLS, one reset after its ClientHello, one frozen mid-transfer, one
// whose certificate was refused, one whose name does not exist, and one whose gateway
// has no probe service. Their errors name addresses and secret paths, as real ones do.
func goldenResults(t *testing.T) []*Result {
	start := time.Date(2026, 12, 7, 6, 12, 53, 0, time.UTC)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tls := func(sni string, took int, err error) *TLSHandshake {
		return &TLSHandshake{ServerName: sni, JA4: "t13d1516h2_8daaf6152771_d8a2da3f94cd", Start: ms(3), Took: ms(took), Done: true, Err: err}
	}
	ok := func(name string, start, took int) *Step { return &Step{Name: name, Start: ms(start), Took: ms(took)} }
	ipSkip := &Step{Name: StepResolve, Skipped: "the address is an IP"}
	connect := &Step{Name: StepConnect, Start: ms(1), Took: ms(2), Network: "tcp", RTT: ms(2)}
	reset := fmt.Errorf("dial: server name www.example.com: TLS handshake failed: read tcp 192.0.2.7:443: %w", syscall.ECONNRESET)
	frozen := fmt.Errorf("read: %w (carrier: https://meek.example.org/%s/)", os.ErrDeadlineExceeded, secretPath)
	mitm := &trust.Error{ServerName: "www.example.com", Reason: trust.PinMismatch, Err: errors.New("key " + testPin + " is not pinned")}
	nx := &net.DNSError{Err: "no such host", Name: "gw.example.net", IsNotFound: true}
	works := &Result{Index: 0, Line: mustLine(t, "utls 192.0.2.7:443 fp=chrome servername=www.example.com pin="+testPin), Family: "tls", Start: start, Took: ms(140),
		Steps: []*Step{ipSkip, connect, {Name: StepTransport, Start: ms(3), Took: ms(7), TLS: tls("www.example.com", 7, nil)}, ok(StepSession, 10, 2),
			{Name: StepEcho, Start: ms(12), Took: ms(4), RTTs: []time.Duration{ms(1), ms(1), ms(1), ms(1), ms(1)}},
			{Name: StepTransfer, Start: ms(16), Took: ms(8), Sent: TransferSize, Received: TransferSize, CarrierReceived: 31052},
			{Name: StepThroughput, Start: ms(24), Took: ms(116), Sent: ThroughputBytes, Received: ThroughputBytes, CarrierReceived: 1082527}}}
	results := []*Result{works,
		failed(t, 1, "webtunnel 192.0.2.7:8443 url=https://www.example.com/"+secretPath+"/", "tls", start,
			[]*Step{ipSkip, connect, {Name: StepTransport, Start: ms(3), Took: ms(2), TLS: tls("www.example.com", 2, reset)}},
			failure.Observation{Step: failure.StepTLS, TLS: true, Err: reset}),
		failed(t, 2, "meek 192.0.2.80:443 servername=ajax.front.example url=https://meek.example.org/"+secretPath+"/", "cdn", start,
			[]*Step{ipSkip, connect, {Name: StepTransport, Start: ms(3), Took: ms(9), TLS: tls("ajax.front.example", 8, nil)}, ok(StepSession, 12, 3),
				{Name: StepEcho, Start: ms(15), Took: ms(5), RTTs: []time.Duration{ms(1), ms(1), ms(1), ms(1), ms(1)}},
				{Name: StepTransfer, Start: ms(20), Took: ms(3000), Sent: TransferSize, Received: 9000, CarrierReceived: 16 << 10}},
			failure.Observation{Step: failure.StepData, TLS: true, Err: frozen, Received: 16 << 10}),
		failed(t, 3, "quic 192.0.2.7:443 servername=www.example.com pin="+testPin, "udp", start,
			[]*Step{ipSkip, {Name: StepConnect, Start: ms(1), Took: ms(30), Network: "udp"}},
			failure.Observation{Step: failure.StepConnect, Err: mitm}),
		failed(t, 4, "obfs4 gw.example.net:9443 cert="+testCert+" iat-mode=0", "stream-random", start,
			[]*Step{{Name: StepResolve, Took: ms(20), Host: "gw.example.net", Resolver: "system"}},
			failure.Observation{Step: failure.StepResolve, Err: nx}),
		{Index: 5, Line: mustLine(t, "tcp 192.0.2.9:7000"), Family: "stream-random", Start: start, Took: ms(9), Unmeasured: "the gateway has no probe service, so data was not measured",
			Steps: []*Step{ipSkip, connect, ok(StepTransport, 3, 0), ok(StepSession, 3, 4), {Name: StepEcho, Start: ms(7), Took: ms(2), Skipped: "the gateway has no probe service, so data was not measured"}}},
	}
	return results
}

// failed is a result whose last step failed as o.
func failed(t *testing.T, i int, line, family string, start time.Time, steps []*Step, o failure.Observation) *Result {
	r := &Result{Index: i, Line: mustLine(t, line), Family: family, Start: start, Steps: steps}
	last := steps[len(steps)-1]
	r.Failure, r.FailedStep = failure.Classify(o), last.Name
	last.Failure = r.Failure
	r.Took = last.Start + last.Took
	return r
}

func goldenJSON(t *testing.T, include bool) []byte {
	red := &Redactor{include: include} // a fixed key, for a golden file
	report := Report{Start: time.Date(2026, 12, 7, 6, 12, 53, 0, time.UTC), SoftwareVersion: "v0.1.0",
		Annotations: map[string]string{"mode": "parallel", "addresses": "hashed"}}
	var ms []Measurement
	for _, r := range goldenResults(t) {
		ms = append(ms, report.Measurement(r, red))
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, ms); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The measurements are what testdata/measurement.golden.json holds, and each is valid
// under the JSON Schema of docs/probe-format.md.
func TestMeasurementsMatchTheGoldenFileAndTheDocumentedSchema(t *testing.T) {
	got := goldenJSON(t, false)
	golden := filepath.Join("testdata", "measurement.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("measurements differ from %s (go test -run Golden -update rewrites it):\n%s", golden, got)
	}
	schema, err := jsonschema.FromMarkdown("../docs/probe-format.md", "## JSON Schema")
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range bytes.Split(bytes.TrimSpace(got), []byte("\n")) {
		if err := schema.Validate(line); err != nil {
			t.Errorf("measurement %d does not validate against docs/probe-format.md:\n%v", i+1, err)
		}
	}
}

// Neither a report's JSON nor its table shows any secret of a line, byte for byte; by
// default they show no address or name either, and with IncludeAddresses they show
// those but still no secret.
func TestReportsShowNoSecret(t *testing.T) {
	secrets := []string{testKey, testSecret, secretPath, testCert, testPin}
	addresses := []string{"192.0.2.7", "192.0.2.80", "192.0.2.9", "gw.example.net", "www.example.com", "ajax.front.example", "meek.example.org"}
	for _, include := range []bool{false, true} {
		var table bytes.Buffer
		red := NewRedactor(include)
		if err := WriteTable(&table, goldenResults(t), red, Summary{Took: time.Second, Parallel: 4, StepTimeout: DefaultStepTimeout}); err != nil {
			t.Fatal(err)
		}
		out := append(goldenJSON(t, include), table.Bytes()...)
		for _, s := range secrets {
			if bytes.Contains(out, []byte(s)) {
				t.Errorf("include addresses %v: the report shows the secret %q", include, s)
			}
		}
		for _, a := range addresses {
			if shown := bytes.Contains(out, []byte(a)); shown != include {
				t.Errorf("include addresses %v: the report shows %q: %v", include, a, shown)
			}
		}
	}
	if !strings.Contains(string(goldenJSON(t, true)), `"error":`) {
		t.Error("with addresses included, the errors' texts are missing")
	}
}
