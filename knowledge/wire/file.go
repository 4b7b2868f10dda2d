package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	bureauv1 "github.com/rxguard/rxguard/gen/rxguard/bureau/v1"
)

// fileMagic starts every release file; the rest is the release stream's
// chunks, each a varint length and a rxguard.bureau.v1.ReleaseChunk.
const fileMagic = "RXGREL1\n"

// maxChunkBytes bounds one chunk of a release file (a batch of
// DefaultBatchSize operations is far smaller).
const maxChunkBytes = 64 << 20

// fileMarshal orders map entries (the manifest's counts), so the same
// release always makes the same file, byte for byte: a release file can be
// reproduced and compared by its checksum.
var fileMarshal = protodelim.MarshalOptions{MarshalOptions: proto.MarshalOptions{Deterministic: true}}

// Encode writes rel as a release file to w.
func Encode(w io.Writer, rel *Release) error {
	bw := bufio.NewWriter(w)
	if _, err := bw.WriteString(fileMagic); err != nil {
		return err
	}
	err := Send(rel, DefaultBatchSize, func(c *bureauv1.ReleaseChunk) error {
		_, err := fileMarshal.MarshalTo(bw, c)
		return err
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

// WriteFile writes rel to path atomically (a temporary file renamed into
// place), so a reader never sees half a release file.
func WriteFile(path string, rel *Release) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".release-*")
	if err != nil {
		return fmt.Errorf("write release file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := Encode(tmp, rel); err != nil {
		tmp.Close()
		return fmt.Errorf("write release file %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write release file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write release file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write release file %s: %w", path, err)
	}
	return nil
}

// Decode reads a release file. Like Receive it checks structure, limits and
// the operation hash, not the signature or content hash.
func Decode(r io.Reader, lim Limits) (*Release, error) {
	br := bufio.NewReader(r)
	magic := make([]byte, len(fileMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != fileMagic {
		return nil, fmt.Errorf("%w: not a release file (it must start with %q; build one with `rxguard kb release`)", ErrMalformed, fileMagic[:7])
	}
	opts := protodelim.UnmarshalOptions{MaxSize: maxChunkBytes}
	return Receive(func() (*bureauv1.ReleaseChunk, error) {
		c := &bureauv1.ReleaseChunk{}
		err := opts.UnmarshalFrom(br, c)
		switch {
		case errors.Is(err, io.EOF):
			return nil, io.EOF
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fmt.Errorf("%w: file ends inside a chunk", ErrTruncated)
		case err != nil:
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return c, nil
	}, lim)
}

// ReadFile decodes the release file at path.
func ReadFile(path string, lim Limits) (*Release, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read release file: %w", err)
	}
	defer f.Close()
	rel, err := Decode(f, lim)
	if err != nil {
		return nil, fmt.Errorf("release file %s: %w", path, err)
	}
	return rel, nil
}
