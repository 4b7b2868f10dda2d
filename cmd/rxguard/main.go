// Command rxguard is the hospital-side pre-order prescribing guard: the
// sidecar (serve), knowledge-base tools (kb) and a command-line client (check).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	// Asia/Shanghai must resolve on minimal hosts without /usr/share/zoneinfo.
	_ "time/tzdata"
)

const usage = `rxguard — hospital-side pre-order prescribing guard

Usage:
  rxguard serve [flags]              run the sidecar (gRPC 127.0.0.1:7600, HTTP 127.0.0.1:7601);
                                     with an empty data directory it builds the embedded demo release
  rxguard kb import [flags] <dir>    build a release from a directory of official NHSA files and activate it
  rxguard kb inspect [flags]         print the active release's manifest and record counts
  rxguard kb release -key KEYFILE -o OUT.rxrel [flags] (-demo | <dir>)
                                     build a signed release file (full, or a delta with -parent FILE.rxrel|demo)
  rxguard kb synth [-entries N -rules N -seed N] -o DIR|FILE.rxrel [-key KEYFILE]
                                     a deterministic synthetic release at a city's scale (benchmarks);
                                     -delta-records N -parent FILE.rxrel writes a delta on top of one
  rxguard kb import-release [flags] <file.rxrel>
                                     verify a signed release file (full, or delta against the active
                                     release) and activate it — offline installs; sidecar stopped
  rxguard kb verify -trusted-key KEY <file.rxrel>
                                     check a release file's signature and content without a store
  rxguard check [flags] <order.json> send a CheckOrdersRequest (protojson) to a running sidecar
  rxguard history import [-server ADDR] <results.csv>
                                     record results shared by other hospitals (regional platform export:
                                     patient_id,item_code,item_name,hospital_code,time,report_id) in a
                                     running sidecar's patient history; all rows checked before any is sent
  rxguard bureau [serve] -key KEYFILE -admin-tokens FILE [flags]
                                     run the reference bureau (127.0.0.1:7700, admin 127.0.0.1:7701) over -dir ./bureau;
                                     publishing needs role admin (-admin-tokens, or -admin off)
  rxguard bureau keygen -out KEYFILE write a new signing key; prints the public key sidecars pin
  rxguard bureau publish [-admin ADDR] <file.rxrel>
                                     publish a release file signed by a publisher key to a running bureau
                                     (credentials from RXGUARD_TOKEN; TLS from RXGUARD_CA_FILE)
  rxguard bureau publish-events -key KEYFILE [-admin ADDR] <events.csv>
                                     sign and append physician-status events (seq,physician_code,type,date,points,until,reason)
  rxguard config check FILE...       validate configuration files without starting (every error, by key)
  rxguard config example             print a complete, commented configuration (every key, its default)
  rxguard status [flags]             a running sidecar's release, bureau sync freshness, feed, plugins
  rxguard log query [flags]          decisions, newest first (-from -to -physician -department -patient
                                     -verdict -rule-type -unanswered -limit -json)
  rxguard log export -from D -to D [flags] [-o FILE]
                                     decisions with their responses as JSON Lines; with -reason DATA_ERROR
                                     a CSV of the findings continued with that reason (for the bureau)
  rxguard log report -by physician|department|rule [-from D -to D]
                                     decisions and findings per physician, department or rule type
                                     (log commands ask a running sidecar, -server, or read -data DIR;
                                     -key-file KEYFILE for an encrypted one)
  rxguard encryption keygen -o FILE  write a new key for encryption.key_file (mode 0600)
  rxguard encryption rotate [-old-key-file A] [-new-key-file B] -data DIR
                                     re-encrypt a stopped sidecar's history and decision log under B
                                     (no A: encrypt unencrypted stores; no B: decrypt)
  rxguard token new -role ROLE -name NAME
                                     a new bearer token (printed once) and the token-file line granting
                                     it ROLE (his, audit, admin); see docs/security.md
  rxguard version

Run 'rxguard <command> -h' for a command's flags.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprint(os.Stderr, usage)
			fmt.Fprintln(os.Stderr, "\nerror:", err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "rxguard:", err)
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"missing command"}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], log, stderr)
	case "kb":
		if len(args) < 2 {
			return usageError{"kb needs a subcommand: import, import-release, inspect, release, synth, verify"}
		}
		switch args[1] {
		case "import":
			return cmdKBImport(ctx, args[2:], log, stdout, stderr)
		case "inspect":
			return cmdKBInspect(ctx, args[2:], log, stdout, stderr)
		case "import-release":
			return cmdKBImportRelease(ctx, args[2:], log, stdout, stderr)
		case "verify":
			return cmdKBVerify(args[2:], stdout, stderr)
		case "release":
			return cmdKBRelease(ctx, args[2:], log, stdout, stderr)
		case "synth":
			return cmdKBSynth(ctx, args[2:], log, stdout, stderr)
		}
		return usageError{"unknown kb subcommand " + args[1]}
	case "history":
		if len(args) < 2 || args[1] != "import" {
			return usageError{"history needs a subcommand: import"}
		}
		return cmdHistoryImport(ctx, args[2:], stdout, stderr)
	case "check":
		return cmdCheck(ctx, args[1:], stdout, stderr)
	case "bureau":
		return cmdBureau(ctx, args[1:], log, stdout, stderr)
	case "config":
		return cmdConfig(args[1:], stdout)
	case "status":
		return cmdStatus(ctx, args[1:], stdout, stderr)
	case "log":
		return cmdLog(ctx, args[1:], stdout, stderr)
	case "encryption":
		return cmdEncryption(ctx, args[1:], log, stdout, stderr)
	case "token":
		return cmdToken(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "rxguard", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageError{"unknown command " + args[0]}
}
