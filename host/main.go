// Command host owns the models, rollouts, checkpoints, data and evaluation of
// an RLHF run, and drives algorithm and reward plugins.
//
//	go run ./host --algo plugins/p3o      the main job (RLHF loop)
//	go run ./host describe PATH           print a plugin's Spec as JSON
//	go run ./host sft ...                 supervised fine-tuning
//	go run ./host prefs ...               make preference data
//	go run ./host reward ...              train a reward model
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand of the host.
type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

// commands is filled by init functions in cmd_*.go, one file per subcommand.
var commands = map[string]command{}

// register adds a subcommand; called from init.
func register(name, summary string, run func(ctx context.Context, args []string) error) {
	commands[name] = command{summary: summary, run: run}
}

// errUsage is returned for a usage problem already explained to the user.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "host:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
		usage()
		return nil
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		c, ok := commands[args[0]]
		if !ok {
			usage()
			return fmt.Errorf("unknown command %q", args[0])
		}
		return c.run(ctx, args[1:])
	}
	// No subcommand: the main job, the RLHF loop ("train").
	c, ok := commands["train"]
	if !ok {
		return errors.New("the train command is not built into this host")
	}
	return c.run(ctx, args)
}

func usage() {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(os.Stderr, "usage: host [train flags] | host COMMAND [flags]\n\ncommands:")
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
}
