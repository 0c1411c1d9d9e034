// Package envflag reads the server's settings from environment variables and, in cmd/local,
// from command-line flags, with one parser per kind of value for both front doors: cmd/local and
// the Lambda function refuse the same malformed value with the same message, naming the variable
// (or the flag) that carried it.
//
// # Example
//
//	s := envflag.New(flag.NewFlagSet("local", flag.ContinueOnError), os.Getenv)
//	var hold time.Duration
//	s.Duration(&hold, envflag.Name{Flag: "poll-hold", Env: "SIO_POLL_HOLD"}, 25*time.Second, "longest a GET is held")
//	if err := s.Parse(os.Args[1:]); err != nil { … } // SIO_POLL_HOLD="soon": want a positive Go duration such as 25s
//
// A Set is not safe for concurrent use; it is meant to be filled and parsed once, at start.
package envflag

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Name names a setting: its environment variable, and its flag in cmd/local (empty: none).
type Name struct {
	Flag string
	Env  string
}

// Set is a group of settings. Each is first its default, then its environment variable when that
// is set (non-empty), then its flag when one is given: the flag wins.
type Set struct {
	fs     *flag.FlagSet // nil: environment variables only
	getenv func(string) string
	errs   []error
	vars   []setting
}

// setting is what the usage text shows of one setting.
type setting struct {
	name  Name
	kind  string
	def   string
	usage string
}

// New returns a Set reading getenv and, when fs is not nil, the flags of fs. The Set takes over
// fs's output and usage: Parse reports errors itself, and Usage prints the flags.
func New(fs *flag.FlagSet, getenv func(string) string) *Set {
	s := &Set{fs: fs, getenv: getenv}
	if fs != nil {
		fs.SetOutput(io.Discard)
		fs.Usage = func() {}
	}
	return s
}

// Parse parses the flags in args (when the Set has a flag set) and returns every malformed
// environment variable, each named with its value, in one error; then a malformed or unknown
// flag. It returns flag.ErrHelp for -h or -help.
func (s *Set) Parse(args []string) error {
	if err := errors.Join(s.errs...); err != nil {
		return err
	}
	if s.fs == nil {
		return nil
	}
	return s.fs.Parse(args)
}

// Errorf records a problem found while reading the settings (a value out of range, a missing
// dependency); Parse returns it with the others.
func (s *Set) Errorf(format string, args ...any) {
	s.errs = append(s.errs, fmt.Errorf(format, args...))
}

// Usage writes every flag of the Set, with its environment variable, default and meaning.
func (s *Set) Usage(w io.Writer) {
	for _, v := range s.vars {
		if v.name.Flag == "" {
			continue
		}
		flag := "-" + v.name.Flag
		if v.kind != "bool" {
			flag += " " + v.kind
		}
		def := v.def
		if def == "" {
			def = "none"
		}
		fmt.Fprintf(w, "  %s\n        %s\n        env %s; default %s\n", flag, v.usage, v.name.Env, def)
	}
}

// Duration defines a positive duration such as 25s or 1m30s.
func (s *Set) Duration(p *time.Duration, n Name, def time.Duration, usage string) {
	define(s, p, n, def, usage, "duration", parseDuration, time.Duration.String)
}

// Bytes defines a positive number of bytes.
func (s *Set) Bytes(p *int64, n Name, def int64, usage string) {
	define(s, p, n, def, usage, "bytes", parseBytes, func(v int64) string { return strconv.FormatInt(v, 10) })
}

// Bool defines a boolean: true or false (also 1, 0, t, f and their capitals, as strconv reads
// them). As a flag, -name alone means true.
func (s *Set) Bool(p *bool, n Name, def bool, usage string) {
	define(s, p, n, def, usage, "bool", parseBool, strconv.FormatBool)
}

// String defines a string; any value is valid.
func (s *Set) String(p *string, n Name, def string, usage string) {
	define(s, p, n, def, usage, "string", func(v string) (string, error) { return v, nil }, func(v string) string { return v })
}

// List defines a comma-separated list; blanks around items and empty items are dropped.
func (s *Set) List(p *[]string, n Name, usage string) {
	define(s, p, n, nil, usage, "list", func(v string) ([]string, error) { return splitList(v), nil },
		func(v []string) string { return strings.Join(v, ",") })
}

func define[T any](s *Set, p *T, n Name, def T, usage, kind string, parse func(string) (T, error), format func(T) string) {
	*p = def
	if raw := s.getenv(n.Env); raw != "" {
		if v, err := parse(raw); err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: %w", n.Env, clip(raw), err))
		} else {
			*p = v
		}
	}
	s.vars = append(s.vars, setting{name: n, kind: kind, def: format(def), usage: usage})
	if s.fs != nil && n.Flag != "" {
		s.fs.Var(&value[T]{p: p, parse: parse, format: format, isBool: kind == "bool"}, n.Flag, usage)
	}
}

// value is a flag.Value that parses as the environment variable does.
type value[T any] struct {
	p      *T
	parse  func(string) (T, error)
	format func(T) string
	isBool bool
}

func (v *value[T]) Set(raw string) error {
	x, err := v.parse(raw)
	if err != nil {
		return err
	}
	*v.p = x
	return nil
}

// String formats the current value; the flag package also calls it on a zero value.
func (v *value[T]) String() string {
	if v == nil || v.p == nil {
		return ""
	}
	return v.format(*v.p)
}

func (v *value[T]) IsBoolFlag() bool { return v.isBool }

func parseDuration(raw string) (time.Duration, error) {
	d, err := time.ParseDuration(raw)
	if err != nil || d <= 0 {
		return 0, errors.New("want a positive Go duration such as 25s")
	}
	return d, nil
}

func parseBytes(raw string) (int64, error) {
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("want a positive number of bytes")
	}
	return n, nil
}

func parseBool(raw string) (bool, error) {
	b, err := strconv.ParseBool(raw)
	if err != nil {
		return false, errors.New("want true or false")
	}
	return b, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// clip shortens a refused value for the error message: a setting may hold a secret, and its
// first bytes are enough to recognise it.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
