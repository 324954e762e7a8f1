package censor_test

import (
	"context"
	"fmt"
	"log"

	"github.com/umbrella-edge/edge/probes/censor"
)

// A failover test puts the censor between client and gateway, lets data flow, then
// blocks the transport in use: Kill cuts its running flows, SetPolicies blocks new
// ones, and the decision log tells what the censor did.
func Example() {
	gateway := "127.0.0.2:443" // the gateway's obfs4 listener, in a real test
	c, err := censor.New(censor.Config{
		Routes: []censor.Route{
			{Name: "obfs4", Transport: "obfs4", Network: "tcp", Listen: "127.0.0.1:0", Upstream: gateway},
		},
		OnDecision: func(d censor.Decision) { fmt.Println(d.Policy, d.Verdict, d.Reason) },
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go c.Run(ctx)

	route, _ := c.Route("obfs4")
	_ = route.Listen // the bridge line's address: the client dials the censor

	// … the client connects and data flows; then the censor escalates:
	if _, err := c.Kill(censor.Selector{Transport: "obfs4"}, censor.KillReset); err != nil {
		log.Fatal(err)
	}
	block, err := censor.ParsePolicy("ip-block:transport=obfs4")
	if err != nil {
		log.Fatal(err)
	}
	c.SetPolicies(block)
	fmt.Println(c.Policies()[0])
	// Output: ip-block:transport=obfs4
}
