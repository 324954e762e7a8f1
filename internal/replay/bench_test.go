package replay

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkCheckAndAdd measures what a new key costs the handshake that adds it: in
// memory, and with the journal's write.
func BenchmarkCheckAndAdd(b *testing.B) {
	for _, journal := range []bool{false, true} {
		name := "memory"
		if journal {
			name = "journal"
		}
		b.Run(name, func(b *testing.B) {
			f := New(Config{})
			if journal {
				var err error
				if f, err = Open(filepath.Join(b.TempDir(), "replay.journal"), Config{}); err != nil {
					b.Fatal(err)
				}
			}
			defer f.Close()
			expiry := time.Now().Add(4 * time.Minute)
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := f.CheckAndAdd(ctx, keyN(i), expiry); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
