package dns

import (
	"errors"
	"testing"

	dnsmsg "github.com/miekg/dns"
)

// TestResolverErrorsBeforeTheGatewayAnswered holds a dial to what each resolver error
// means before the tunnel has heard from the gateway: a refusal ends it at once, while
// SERVFAIL, which a resolver also answers when one query to a busy gateway timed out,
// ends it only when it repeats; after the gateway answered, neither ends it.
func TestResolverErrorsBeforeTheGatewayAnswered(t *testing.T) {
	tests := []struct {
		name    string
		heard   bool
		rcodes  []int
		wantErr []bool // after each answer, whether the tunnel gives up
	}{
		{"a refusal at once", false, []int{dnsmsg.RcodeRefused}, []bool{true}},
		{"SERVFAIL that repeats", false, []int{rcodeServFail, rcodeServFail, rcodeServFail}, []bool{false, false, true}},
		{"SERVFAIL once, then a refusal", false, []int{rcodeServFail, dnsmsg.RcodeRefused}, []bool{false, true}},
		{"SERVFAIL after the gateway answered", true, []int{rcodeServFail, rcodeServFail, rcodeServFail, rcodeServFail}, []bool{false, false, false, false}},
		{"a refusal after the gateway answered", true, []int{dnsmsg.RcodeRefused}, []bool{false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := &tunnel{domain: testDomain, heardOnce: tt.heard}
			for i, rcode := range tt.rcodes {
				err := tn.answered(&sentQuery{}, answer{rcode: rcode})
				if got := err != nil; got != tt.wantErr[i] {
					t.Fatalf("answer %d (%s): error %v, want an error: %v", i+1, rcodeName(rcode), err, tt.wantErr[i])
				}
				if err != nil && !errors.Is(err, ErrResolver) {
					t.Fatalf("answer %d (%s): %v, want ErrResolver", i+1, rcodeName(rcode), err)
				}
			}
		})
	}
}
