// Command load is the load generator behind `make bench`.
//
//	load seed   makes sure the bench customers exist and writes their ids
//	load run    loads each target for a fixed time and prints a table
//	load scan   times a duplicate scan of the whole tenant
//
// It runs on the same machine as the suite, over loopback only, and prints
// figures; it never judges them.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "seed":
		err = seed(os.Args[2:])
	case "run":
		err = run(os.Args[2:])
	case "scan":
		err = scan(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: load seed|run|scan [flags]  (load <command> -h lists the flags)")
	os.Exit(2)
}

// readKey returns the API key kept in file.
func readKey(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("admin API key: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
