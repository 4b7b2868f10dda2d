package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/rxguard/rxguard/internal/badgerdb"
	"github.com/rxguard/rxguard/internal/keyfile"
	"github.com/rxguard/rxguard/server/decisionlog"
	"github.com/rxguard/rxguard/server/history"
)

// encryptionConfig is the configuration's `encryption` section: the key
// that encrypts the stores holding patient data (the patient history and
// the decision log) at rest. Knowledge releases are public data protected
// by their signature and stay unencrypted. docs/operations.md, "Encryption
// at rest".
type encryptionConfig struct {
	// KeyFile: 64 hex characters (internal/keyfile), mode 0600 or stricter.
	// Empty: the stores are not encrypted.
	KeyFile string `json:"key_file,omitempty"`
}

// key reads the key file; nil without one. Its errors name the key path.
// It is the section's validation too: newSidecar calls it before opening
// any store.
func (c encryptionConfig) key() ([]byte, error) {
	if c.KeyFile == "" {
		return nil, nil
	}
	k, err := keyfile.Read(c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("encryption.key_file: %w", err)
	}
	return k, nil
}

// Validate checks the section as the start would (strictconf.Validator):
// the key file must exist, be private and hold a well-formed key, so
// `config check` on the host refuses what `serve` would refuse.
func (c encryptionConfig) Validate() error {
	_, err := c.key()
	return err
}

// patientStores are the stores under a data directory that hold patient
// data, hence are encrypted: their directory names and how to rekey them.
var patientStores = []struct {
	name  string
	rekey func(ctx context.Context, dir string, oldKey, newKey []byte, log *slog.Logger) (badgerdb.RekeyResult, error)
}{
	{"history", history.Rekey},
	{"decisions", decisionlog.Rekey},
}

const encryptionUsage = "encryption needs a subcommand: keygen, rotate"

// cmdEncryption dispatches `rxguard encryption …`.
func cmdEncryption(ctx context.Context, args []string, log *slog.Logger, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{encryptionUsage}
	}
	switch args[0] {
	case "keygen":
		return cmdEncryptionKeygen(args[1:], stdout, stderr)
	case "rotate":
		return cmdEncryptionRotate(ctx, args[1:], log, stdout, stderr)
	}
	return usageError{"unknown encryption subcommand " + args[0] + "; " + encryptionUsage}
}

func cmdEncryptionKeygen(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("encryption keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the new key to this file (created with mode 0600; never overwritten)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if err := noArgs(fs, "encryption keygen"); err != nil {
		return err
	}
	if *out == "" {
		return usageError{"encryption keygen needs -o FILE"}
	}
	if err := keyfile.Generate(*out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote a new encryption key to %s (mode 0600)\n"+
		"Keep a copy in escrow now: without this key the patient history and the decision log it encrypts cannot be read by anyone.\n", *out)
	return nil
}

// cmdEncryptionRotate re-encrypts a stopped sidecar's patient-data stores
// under a new key (or encrypts unencrypted ones: no -old-key-file; or
// decrypts: no -new-key-file).
func cmdEncryptionRotate(ctx context.Context, args []string, log *slog.Logger, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("encryption rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	oldPath := fs.String("old-key-file", "", "the key the stores are encrypted with now (omit for unencrypted stores)")
	newPath := fs.String("new-key-file", "", "the key to encrypt them with (omit to store them unencrypted)")
	data := fs.String("data", "", "the stopped sidecar's data directory (its data_dir)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if err := noArgs(fs, "encryption rotate"); err != nil {
		return err
	}
	if *data == "" {
		return usageError{"encryption rotate needs -data DIR (the sidecar's data_dir)"}
	}
	if *oldPath == "" && *newPath == "" {
		return usageError{"encryption rotate needs -new-key-file (to encrypt or change the key) or -old-key-file (to decrypt), or both"}
	}
	var oldKey, newKey []byte
	var err error
	if *oldPath != "" {
		if oldKey, err = keyfile.Read(*oldPath); err != nil {
			return fmt.Errorf("-old-key-file: %w", err)
		}
	}
	if *newPath != "" {
		if newKey, err = keyfile.Read(*newPath); err != nil {
			return fmt.Errorf("-new-key-file: %w", err)
		}
	}
	rotated := 0
	for _, st := range patientStores {
		dir := filepath.Join(*data, st.name)
		if !exists(dir) && !exists(dir+badgerdb.RekeyDoneSuffix) {
			fmt.Fprintf(stdout, "%s: no store, nothing to do\n", dir)
			continue
		}
		res, err := st.rekey(ctx, dir, oldKey, newKey, log)
		if errors.Is(err, badgerdb.ErrInUse) {
			return fmt.Errorf("%s is open in a running rxguard: stop the sidecar first: %w", dir, err)
		}
		if err != nil {
			return fmt.Errorf("%w (stores rotated before this one already use the new key)", err)
		}
		rotated++
		if res.Resumed {
			fmt.Fprintf(stdout, "%s: finished an interrupted rotation; the store under the old key is %s\n", dir, res.Old)
			continue
		}
		fmt.Fprintf(stdout, "%s: %d keys copied under the new key and verified; the store under the old key is %s\n", dir, res.Keys, res.Old)
	}
	if rotated == 0 {
		return fmt.Errorf("%s holds no history or decision log to rotate (-data names a sidecar's data_dir)", *data)
	}
	fmt.Fprintln(stdout, "Now point encryption.key_file at the new key, start rxguard, check it, then remove the .old-key directories (they can be read with the old key).")
	return nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
