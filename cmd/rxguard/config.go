package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/rxguard/rxguard/server"
	"github.com/rxguard/rxguard/server/engine"
)

// config is the sidecar's configuration file (JSON). Flags given on the
// command line override it.
type config struct {
	GRPCAddr string        `json:"grpc_addr"`
	HTTPAddr string        `json:"http_addr"`
	DataDir  string        `json:"data_dir"`
	Engine   engine.Config `json:"engine"`
}

func defaultConfig() config {
	return config{GRPCAddr: server.DefaultGRPCAddr, HTTPAddr: server.DefaultHTTPAddr, DataDir: "./data"}
}

func loadConfig(path string) (config, error) {
	c := defaultConfig()
	if path == "" {
		return c, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("read config: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// storeFlags are the flags every command that opens the store shares.
func dataDirFlag(fs *flag.FlagSet) *string {
	return fs.String("data", "./data", "data directory holding the knowledge store")
}
