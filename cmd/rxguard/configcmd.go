package main

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
)

// exampleConfig is `rxguard config example`: every key with its default
// and meaning. It is the one source: docs/operations.md includes it
// verbatim (`make docs`), and tests hold it to the config types and their
// defaults.
//
//go:embed example.yaml
var exampleConfig string

// cmdConfig is `rxguard config check FILE…` and `rxguard config example`.
func cmdConfig(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{"config needs a subcommand: check, example"}
	}
	switch args[0] {
	case "example":
		if len(args) > 1 {
			return usageError{"config example takes no arguments"}
		}
		_, err := io.WriteString(stdout, exampleConfig)
		return err
	case "check":
		if len(args) < 2 {
			return usageError{"config check needs a file: rxguard config check rxguard.yaml"}
		}
		// Every file is checked, and every problem of each reported.
		var errs []error
		for _, path := range args[1:] {
			if _, err := loadConfig(path); err != nil {
				errs = append(errs, err)
				continue
			}
			fmt.Fprintln(stdout, "ok:", path)
		}
		if len(errs) > 0 {
			return fmt.Errorf("%w\nfix the keys named (rxguard config example prints every key with its default)", errors.Join(errs...))
		}
		return nil
	}
	return usageError{"unknown config subcommand " + args[0]}
}
