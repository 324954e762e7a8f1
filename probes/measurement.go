package probes

import (
	"encoding/json"
	"io"
	"time"

	"github.com/umbrella-edge/edge/client/failure"
)

// The measurement's names, as docs/probe-format.md documents them. TestVersion
// changes when the meaning of a key does.
const (
	TestName          = "umbrella_bridge"
	TestVersion       = "0.1.0"
	SoftwareName      = "umbrella"
	dataFormatVersion = "0.2.0" // OONI's base data format (ooni/spec, df-000-base)
	ooniTime          = "2006-01-02 15:04:05"
)

// Measurement is one line's result in OONI's base data format (ooni/spec,
// data-formats/df-000-base), its test keys in the manner of OONI's tor experiment
// (ts-023-tor): a failure in df-007-errors' vocabulary, and each step with its start,
// end and failure. docs/probe-format.md documents every key.
type Measurement struct {
	Annotations          map[string]string `json:"annotations"`
	DataFormatVersion    string            `json:"data_format_version"`
	Input                string            `json:"input"`
	MeasurementStartTime string            `json:"measurement_start_time"`
	ProbeASN             string            `json:"probe_asn"`
	ProbeCC              string            `json:"probe_cc"`
	SoftwareName         string            `json:"software_name"`
	SoftwareVersion      string            `json:"software_version"`
	TestKeys             TestKeys          `json:"test_keys"`
	TestName             string            `json:"test_name"`
	TestRuntime          float64           `json:"test_runtime"`
	TestStartTime        string            `json:"test_start_time"`
	TestVersion          string            `json:"test_version"`
}

// TestKeys are what one line's probe found.
type TestKeys struct {
	BridgeIndex     int        `json:"bridge_index"`
	BridgeAddress   string     `json:"bridge_address"`
	Transport       string     `json:"transport"`
	Family          string     `json:"family"`
	Success         bool       `json:"success"`
	Failure         *string    `json:"failure"`
	FailedOperation *string    `json:"failed_operation"`
	Verdict         string     `json:"verdict"`
	Explanation     string     `json:"explanation,omitempty"`
	Steps           []StepKeys `json:"steps"`
}

// StepKeys is one step. Times are seconds from the measurement's start, as OONI's t0
// and t are.
type StepKeys struct {
	Operation string  `json:"operation"`
	T0        float64 `json:"t0"`
	T         float64 `json:"t"`
	Failure   *string `json:"failure"`
	Error     string  `json:"error,omitempty"`
	Skipped   string  `json:"skipped,omitempty"`

	Hostname  string   `json:"hostname,omitempty"`
	Resolver  string   `json:"resolver,omitempty"`
	Addresses []string `json:"addresses,omitempty"`

	Network string   `json:"network,omitempty"`
	RTT     *float64 `json:"rtt,omitempty"`

	TLS *TLSKeys `json:"tls,omitempty"`

	RTTs                 []float64 `json:"rtts,omitempty"`
	BytesSent            *int64    `json:"bytes_sent,omitempty"`
	BytesReceived        *int64    `json:"bytes_received,omitempty"`
	CarrierBytesReceived *int64    `json:"carrier_bytes_received,omitempty"`
	BitsPerSecond        *float64  `json:"bits_per_second,omitempty"`
}

// TLSKeys is a transport's TLS handshake: the server name sent, the ClientHello's JA4,
// and how the handshake ended.
type TLSKeys struct {
	ServerName string  `json:"server_name"`
	JA4        string  `json:"ja4"`
	T0         float64 `json:"t0"`
	T          float64 `json:"t"`
	Failure    *string `json:"failure"`
}

// Report describes a run, for its measurements.
type Report struct {
	Start             time.Time
	SoftwareVersion   string
	ProbeCC, ProbeASN string
	Annotations       map[string]string
}

// Measurement returns r as an OONI measurement, shown through red.
func (run Report) Measurement(r *Result, red *Redactor) Measurement {
	m := Measurement{
		Annotations:          run.Annotations,
		DataFormatVersion:    dataFormatVersion,
		Input:                red.Bridge(r.Line),
		MeasurementStartTime: r.Start.UTC().Format(ooniTime),
		ProbeASN:             run.ProbeASN,
		ProbeCC:              run.ProbeCC,
		SoftwareName:         SoftwareName,
		SoftwareVersion:      run.SoftwareVersion,
		TestName:             TestName,
		TestRuntime:          r.Took.Seconds(),
		TestStartTime:        run.Start.UTC().Format(ooniTime),
		TestVersion:          TestVersion,
		TestKeys: TestKeys{
			BridgeIndex:   r.Index + 1,
			BridgeAddress: red.Name(r.Line.Addr),
			Transport:     r.Line.Transport,
			Family:        r.Family,
			Success:       r.Works(),
			Verdict:       r.Verdict(),
			Explanation:   r.Explanation(),
			Steps:         []StepKeys{},
		},
	}
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	if r.Failure != nil {
		m.TestKeys.Failure = ooni(r.Failure)
		m.TestKeys.FailedOperation = &r.FailedStep
	}
	for _, s := range r.Steps {
		m.TestKeys.Steps = append(m.TestKeys.Steps, stepKeys(r, s, red))
	}
	return m
}

func stepKeys(r *Result, s *Step, red *Redactor) StepKeys {
	k := StepKeys{
		Operation: s.Name, T0: s.Start.Seconds(), T: (s.Start + s.Took).Seconds(),
		Failure: ooni(s.Failure), Skipped: s.Skipped,
		Hostname: red.Name(s.Host), Resolver: s.Resolver, Addresses: red.Names(s.Addrs),
		Network: s.Network,
	}
	if s.Failure != nil {
		k.Error = red.ErrorText(r.Line, s.Failure.Err)
	}
	if s.RTT > 0 {
		k.RTT = ptr(s.RTT.Seconds())
	}
	if t := s.TLS; t != nil {
		k.TLS = &TLSKeys{ServerName: red.Name(t.ServerName), JA4: t.JA4, T0: t.Start.Seconds(), T: (t.Start + t.Took).Seconds()}
		if s.Failure != nil && handshakeStep(t) == failure.StepTLS {
			k.TLS.Failure = k.Failure
		}
	}
	for _, rtt := range s.RTTs {
		k.RTTs = append(k.RTTs, rtt.Seconds())
	}
	if s.Name == StepTransfer || s.Name == StepThroughput {
		k.BytesSent, k.BytesReceived, k.CarrierBytesReceived = ptr(s.Sent), ptr(s.Received), ptr(s.CarrierReceived)
	}
	if s.Name == StepThroughput && s.Failure == nil && s.Took > 0 {
		k.BitsPerSecond = ptr(float64(s.Received*8) / s.Took.Seconds())
	}
	return k
}

func ooni(e *failure.Error) *string {
	if e == nil {
		return nil
	}
	return ptr(e.OONI())
}

func ptr[T any](v T) *T { return &v }

// WriteJSON writes one measurement a line (JSON Lines), as OONI's report files hold them.
func WriteJSON(w io.Writer, ms []Measurement) error {
	enc := json.NewEncoder(w)
	for _, m := range ms {
		if err := enc.Encode(m); err != nil {
			return err
		}
	}
	return nil
}
