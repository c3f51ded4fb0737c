// Command benchtable reads `go test -bench` output of the bench module from
// the files named as arguments, or from standard input, and prints one table
// per GOMAXPROCS: for every family and variant, Bulwark's median ns/op and
// allocs/op, the fastest peer's, their ratio and a verdict (✓ when ours is no
// slower and allocates nothing). Below the tables it prints the raw medians
// of every implementation. Medians, not means: one noisy run on a shared VM
// moves a mean but not a median.
//
// Usage:
//
//	go test -run '^$' -bench . -benchmem -count 5 ./... | benchtable
//	benchtable raw.txt
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	var results []Result
	config := map[string]string{}
	read := func(r io.Reader) error {
		res, cfg, err := Parse(r)
		results = append(results, res...)
		for k, v := range cfg {
			config[k] = v
		}
		return err
	}
	if len(args) == 0 {
		if err := read(stdin); err != nil {
			return err
		}
	}
	for _, name := range args {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		err = read(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if len(results) == 0 {
		return errors.New("no benchmark results in the input")
	}
	return write(stdout, summarize(results), config)
}
