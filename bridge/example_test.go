package bridge_test

import (
	"fmt"

	"github.com/umbrella-edge/edge/bridge"
)

func ExampleParse() {
	b, err := bridge.Parse("Bridge utls 203.0.113.5:443 servername=www.example.com fp=chrome " +
		"secret=IRTI2TGNGBW5buikogrW-ySihqibjV4AldZkH-lYmQI key=BDMOLvMFu-o4vrNgbSJiR-HXW1TE0iSvmgexvrCb5MU")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(b.String())
	fmt.Println(b.Redacted())

	_, err = bridge.Parse("utls 203.0.113.5 key=… secret=…")
	fmt.Println(err)
	// Output:
	// utls 203.0.113.5:443 key=BDMOLvMFu-o4vrNgbSJiR-HXW1TE0iSvmgexvrCb5MU secret=IRTI2TGNGBW5buikogrW-ySihqibjV4AldZkH-lYmQI fp=chrome servername=www.example.com
	// utls 203.0.113.5:443 key=#d126ec95 secret=#91d4c1fc fp=chrome servername=www.example.com
	// bridge line: address "203.0.113.5": missing port
}
