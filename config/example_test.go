package config_test

import (
	"fmt"

	"github.com/umbrella-edge/edge/config"
)

func ExampleParseGateway() {
	_, err := config.ParseGateway("gateway.yaml", []byte(`state_dir: /var/lib/umbrella
listners:
  - transport: utsl
    listen: 0.0.0.0:443
services:
  mls: 127.0.0.1:7000
`), []string{"tcp", "utls"})
	fmt.Println(err)
	// Output:
	// gateway.yaml:2: listners: unknown field (did you mean listeners?)
}
