package tlskit

import "testing"

func TestJA3LeavesGREASEOutAndKeepsOrder(t *testing.T) {
	h, err := ParseClientHello(buildHello(testHello{
		suites: []uint16{0x0a0a, 0x1301, 0xc02f},
		extensions: []Extension{
			{0x1a1a, nil},
			sniExt("example.com"),
			uint16ListExt(extSupportedGroups, 2, 0x2a2a, 29, 23),
			{extPointFormats, []byte{1, 0}},
			alpnExt("h2"),
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if want := "771,4865-49199,0-10-11-16,29-23,0"; h.JA3() != want {
		t.Errorf("JA3 = %q; want %q", h.JA3(), want)
	}
	// md5sum of the JA3 string above.
	if want := "314abbbcca48548317336aed70894d82"; h.JA3Hash() != want {
		t.Errorf("JA3Hash = %q; want %q", h.JA3Hash(), want)
	}
}
