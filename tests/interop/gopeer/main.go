// Command gopeer is pykcp's interop peer: a small program of the project's own, built against
// Debian's kcp-go 5.6.1 (GOPATH mode), that the Python tests drive through subcommands.
//
// Each feature file registers its subcommands in init() with register(); main dispatches on
// os.Args[1]. Subcommands read their inputs from flags/stdin and write results to stdout so the
// tests can compare bytes with pykcp.
package main

import (
	"fmt"
	"os"
	"sort"
)

type command struct {
	help string
	run  func(args []string) error
}

var commands = map[string]command{}

func register(name, help string, run func(args []string) error) {
	if _, dup := commands[name]; dup {
		panic("gopeer: duplicate command " + name)
	}
	commands[name] = command{help: help, run: run}
}

func usage() {
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Fprintln(os.Stderr, "usage: gopeer COMMAND [flags]")
	for _, name := range names {
		fmt.Fprintf(os.Stderr, "  %-16s %s\n", name, commands[name].help)
	}
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		usage()
		os.Exit(2)
	}
	if err := cmd.run(os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "gopeer:", err)
		os.Exit(1)
	}
}
