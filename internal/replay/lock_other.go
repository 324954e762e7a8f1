//go:build !unix

package replay

import (
	"errors"
	"os"
)

// lockFile fails where there is no flock: journals are for gateways, which run on
// unix systems; clients keep no journal.
func lockFile(path string) (*os.File, error) {
	return nil, errors.New("replay journal: needs a unix system")
}
