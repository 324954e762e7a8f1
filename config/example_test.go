package config_test

import (
	"fmt"

	"github.com/umbrella-edge/edge/config"
)

func ExampleParseBridge() {
	b, err := config.ParseBridge("Bridge utls 203.0.113.5:443 servername=www.example.com fp=chrome " +
		"secret=IRTI2TGNGBW5buikogrW-ySihqibjV4AldZkH-lYmQI key=BDMOLvMFu-o4vrNgbSJiR-HXW1TE0iSvmgexvrCb5MU")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(b.String())
	fmt.Println(b.Redacted())

	_, err = config.ParseBridge("utls 203.0.113.5 key=… secret=…")
	fmt.Println(err)
	// Output:
	// utls 203.0.113.5:443 key=BDMOLvMFu-o4vrNgbSJiR-HXW1TE0iSvmgexvrCb5MU secret=IRTI2TGNGBW5buikogrW-ySihqibjV4AldZkH-lYmQI fp=chrome servername=www.example.com
	// utls 203.0.113.5:443 key=#d126ec95 secret=#91d4c1fc fp=chrome servername=www.example.com
	// bridge line: address "203.0.113.5": missing port
}

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
