package bridge

import (
	"bytes"
	"compress/flate"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
)

// A share code is one URI that holds a set of bridge lines, for a QR code or a
// message (docs/share-format.md):
//
//	UMBRELLA:1:<base32 of DEFLATE(lines) and a CRC-32>
//
// It is all capitals, digits and ':' so that a QR code holds it in alphanumeric mode
// (5.5 bits a character instead of 8), and it survives being pasted anywhere.
const (
	// ShareScheme begins every share code; it is matched without regard to case.
	ShareScheme = "UMBRELLA:"
	// ShareVersion is the version of the format that EncodeShare writes.
	ShareVersion = 1
)

// Bounds a share code is parsed within, so that a hostile code cannot make the
// parser allocate much: the largest QR code (version 40, level L) holds 4,296
// alphanumeric characters, and a code's lines inflate to at most maxShareBody.
const (
	maxShareURI   = 4296
	maxShareBody  = 64 << 10
	maxShareLines = 256
)

// shareEncoding is base32 (RFC 4648 section 6) without padding: capitals and 2–7 only,
// all in the QR alphanumeric set.
var shareEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Errors of ParseShare that a caller may tell a person about differently.
var (
	// ErrShareChecksum: the code was changed in transit (a typo, a cut).
	ErrShareChecksum = errors.New("share code damaged: its checksum does not match (a character changed or missing?)")
	// ErrShareVersion: the code was made by a newer program.
	ErrShareVersion = errors.New("share code of a newer format: update this program")
)

// EncodeShare returns the share code of lines, in their order. It contains their
// secrets: whoever has it can use the bridges and find them.
func EncodeShare(lines []Line) (string, error) {
	if len(lines) == 0 {
		return "", errors.New("share code: no bridge lines")
	}
	if len(lines) > maxShareLines {
		return "", fmt.Errorf("share code: %d bridge lines, at most %d", len(lines), maxShareLines)
	}
	var text strings.Builder
	for i, l := range lines {
		if i > 0 {
			text.WriteByte('\n')
		}
		text.WriteString(l.String())
	}
	var body bytes.Buffer
	zw, _ := flate.NewWriter(&body, flate.BestCompression) // the level is valid
	zw.Write([]byte(text.String()))
	zw.Close()
	if body.Len() > maxShareBody {
		return "", errors.New("share code: bridge lines too long")
	}
	version := strconv.Itoa(ShareVersion)
	data := binary.BigEndian.AppendUint32(body.Bytes(), shareChecksum(version, body.Bytes()))
	uri := ShareScheme + version + ":" + shareEncoding.EncodeToString(data)
	if len(uri) > maxShareURI {
		return "", fmt.Errorf("share code of %d characters, more than a QR code holds (%d): share fewer lines", len(uri), maxShareURI)
	}
	return uri, nil
}

// shareChecksum is the CRC-32 (IEEE) of the version and the compressed lines: it
// catches every change of one character, and every cut.
func shareChecksum(version string, body []byte) uint32 {
	h := crc32.NewIEEE()
	h.Write([]byte(version + ":"))
	h.Write(body)
	return h.Sum32()
}

// IsShare reports whether s looks like a share code (it begins with ShareScheme), as
// opposed to a bridge line.
func IsShare(s string) bool {
	s = strings.TrimSpace(s)
	return len(s) >= len(ShareScheme) && strings.EqualFold(s[:len(ShareScheme)], ShareScheme)
}

// ParseShare returns the bridge lines of a share code. Case and spaces or line breaks
// inside the code (where a message app wrapped it) are ignored. Errors say what is
// wrong without repeating the code, which holds secrets.
func ParseShare(uri string) ([]Line, error) {
	uri = strings.Join(strings.Fields(uri), "")
	if len(uri) > maxShareURI {
		return nil, fmt.Errorf("share code: %d characters, more than a QR code holds (%d)", len(uri), maxShareURI)
	}
	if !IsShare(uri) {
		return nil, fmt.Errorf("share code: want one beginning with %s", ShareScheme)
	}
	version, payload, ok := strings.Cut(uri[len(ShareScheme):], ":")
	if !ok {
		return nil, errors.New("share code: no version")
	}
	switch v, err := strconv.Atoi(version); {
	case err != nil || v < 1 || strconv.Itoa(v) != version:
		return nil, errors.New("share code: the version is not a number")
	case v > ShareVersion:
		return nil, fmt.Errorf("%w (version %d; this program reads %d)", ErrShareVersion, v, ShareVersion)
	}
	data, err := shareEncoding.DecodeString(strings.ToUpper(payload))
	if err != nil || len(data) < 4 {
		return nil, fmt.Errorf("%w: not base32", ErrShareChecksum)
	}
	body, sum := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
	if shareChecksum(version, body) != sum {
		return nil, ErrShareChecksum
	}
	text, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(body)), maxShareBody+1))
	if err != nil {
		return nil, fmt.Errorf("share code: %w", err)
	}
	if len(text) > maxShareBody {
		return nil, fmt.Errorf("share code: its lines are longer than %d bytes", maxShareBody)
	}
	return parseShareLines(string(text))
}

func parseShareLines(text string) ([]Line, error) {
	rows := strings.Split(text, "\n")
	if len(rows) > maxShareLines {
		return nil, fmt.Errorf("share code: %d bridge lines, at most %d", len(rows), maxShareLines)
	}
	lines := make([]Line, 0, len(rows))
	for i, row := range rows {
		l, err := Parse(row)
		if err != nil {
			return nil, fmt.Errorf("share code, line %d: %w", i+1, err)
		}
		lines = append(lines, l)
	}
	return lines, nil
}

// ParseLines reads what a user pastes where bridges are asked for: a share code, or
// one bridge line.
func ParseLines(s string) ([]Line, error) {
	if IsShare(s) {
		return ParseShare(s)
	}
	l, err := Parse(s)
	if err != nil {
		return nil, err
	}
	return []Line{l}, nil
}
