// Command sse is the ssehub command line: it decodes captured event streams,
// tails live ones, publishes to a hub and load-tests any SSE server.
//
// Usage:
//
//	sse decode [--json] [FILE]
//	sse tail [--json | --data-only] [-X METHOD] [-d DATA | -d @FILE | -d @-]... [-H 'Name: value']... [--done DATA] [--max-event-size BYTES]
//	         [--topic T]... [--last-event-id ID] [--max-events N] [--timeout D] [--no-reconnect] URL
//	sse publish --url URL --topic T [--topic T]... --data D [--id ID] [--type T] [--retry MS] [--private] (--token JWT | --jwt-key KEY)
//	sse token --jwt-key KEY [--publish SELECTOR]... [--subscribe SELECTOR]... [--ttl D]
//	sse bench [--mode idle|fanout|topics] [--connections N] [--rate R] [--duration D] [--jwt-key K] [--pid PID] URL
//	sse help
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// env is what a subcommand may touch of the process, so that tests can run
// subcommands in-process with their own streams.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

const usage = `usage: sse <command> [flags] [arguments]

commands:
  decode   print the events of a raw text/event-stream body (FILE or standard input)
  tail     print the events of a live stream at URL as they arrive, reconnecting
  bench    load a Mercure-shaped SSE server on this machine and report throughput and latency
  publish  publish one update to a Mercure hub and print its ID
  token    print a signed JWT with the mercure claim, for publishers and subscribers

Run 'sse <command> -h' for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr})
	stop()
	os.Exit(code)
}

// run executes one subcommand and returns the process exit status.
func run(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "decode":
		return runDecode(ctx, rest, e)
	case "tail":
		return runTail(ctx, rest, e)
	case "publish":
		return runPublish(ctx, rest, e)
	case "token":
		return runToken(rest, e)
	case "bench":
		return runBench(ctx, rest, e)
	case "help", "-h", "--help":
		fmt.Fprint(e.stdout, usage)
		return 0
	}
	fmt.Fprintf(e.stderr, "sse: unknown command %q\n\n%s", name, usage)
	return 2
}
