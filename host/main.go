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
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/p3o-rlhf/p3o/host/internal/pluginrt"
	"github.com/p3o-rlhf/p3o/host/internal/progress"
	"github.com/p3o-rlhf/p3o/nn"
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

// stderr and stdout are the process's outputs through its progress console
// (package progress): a line written to either while a progress bar is drawn
// on the terminal prints above the bar instead of through it. Every log
// line of the host and its plugins goes through them.
var (
	stderr io.Writer = progress.Stderr()
	stdout io.Writer = progress.Stderr().Writer(os.Stdout)
)

// errUsage is returned for a usage problem already explained to the user.
var errUsage = errors.New("usage")

// errHelp is returned by a command whose usage was asked for (-h, --help):
// the usage is printed and the host exits 0.
var errHelp = errors.New("help requested")

// newFlagSet returns a command's flag set, printing to stderr.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses a command's flags: errHelp after -h or --help (the
// usage is printed), errUsage for a bad flag (explained).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return errUsage
	}
	return nil
}

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal asks the job to stop at its next safe point
		// (the train loop finishes the step and writes a checkpoint); a
		// second one stops the host at once, plugins included.
		s := <-sigs
		fmt.Fprintf(stderr, "host: %v: stopping after the current step and writing a checkpoint (press Ctrl-C again to stop at once)\n", s)
		cancel()
		s = <-sigs
		n := pluginrt.KillAll()
		fmt.Fprintf(stderr, "host: second %v: stopped at once (%d plugin processes killed); the last checkpoint written is kept\n", s, n)
		os.Exit(130)
	}()
	err := run(ctx, os.Args[1:])
	signal.Stop(sigs)
	cancel()
	if err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(stderr, "host:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
		usage()
		return nil
	}
	if err := checkEnv(args); err != nil {
		return err
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		c, ok := commands[args[0]]
		if !ok {
			usage()
			return fmt.Errorf("unknown command %q", args[0])
		}
		return helpIsNoError(c.run(ctx, args[1:]))
	}
	// No subcommand: the main job, the RLHF loop ("train").
	c, ok := commands["train"]
	if !ok {
		return errors.New("the train command is not built into this host")
	}
	return helpIsNoError(c.run(ctx, args))
}

// checkEnv refuses a bad NN_THREADS (the model code would ignore it) unless
// the usage is asked for, which always works.
func checkEnv(args []string) error {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			return nil
		}
	}
	if _, err := nn.ParseThreads(os.Getenv(nn.ThreadsEnv)); err != nil {
		return err
	}
	return nil
}

// helpIsNoError maps errHelp (the usage was asked for and printed) to nil.
func helpIsNoError(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

func usage() {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(stderr, "usage: host [train flags] | host COMMAND [flags]\n\ncommands:")
	for _, n := range names {
		fmt.Fprintf(stderr, "  %-10s %s\n", n, commands[n].summary)
	}
}
