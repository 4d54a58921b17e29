// Package config loads a command's settings from defaults, an optional YAML
// file, environment variables and flags, in that order of precedence (a
// flag beats a variable, which beats the file, which beats the default).
//
// Settings are the fields of a struct. A field's key is its yaml tag; nested
// structs add a dotted prefix. The key kafka.brokers is the YAML path
// kafka: {brokers: ...}, the flag --kafka.brokers and the variable
// FLOWGUARD_KAFKA_BROKERS. A help tag documents the setting, and a range
// tag gives the values a numeric or duration setting takes (see check.go):
// after the last source, Load refuses a value out of its range with an
// error naming the flag, the variable, or the file and line it came from.
// Fields of kinds a flag cannot hold (lists of structs, maps) are set in
// the file only.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// EnvPrefix starts every environment variable the loader reads.
const EnvPrefix = "FLOWGUARD_"

// ErrHelp is returned by Load when the arguments asked for help; the usage
// has been written to the output already.
var ErrHelp = flag.ErrHelp

// setting is one leaf field reachable by flag and environment variable.
type setting struct {
	key   string
	help  string
	valid string // range tag: the values it takes (see check.go)
	value reflect.Value
	def   string
}

// Load fills cfg (a pointer to a struct holding its defaults) from the YAML
// file named by --config or FLOWGUARD_CONFIG, then the environment, then
// args. It returns the arguments left after the flags. Usage and help go to
// out.
func Load(name string, cfg any, args []string, env func(string) string,
	out io.Writer) ([]string, error) {
	root := reflect.ValueOf(cfg)
	if root.Kind() != reflect.Pointer || root.Elem().Kind() != reflect.Struct {
		panic("config: Load needs a pointer to a struct")
	}
	settings := collect(root.Elem(), "")

	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	configFile := env(EnvPrefix + "CONFIG")
	fs.StringVar(&configFile, "config", configFile,
		"YAML file with settings (env "+EnvPrefix+"CONFIG)")
	flagged := map[string]*flagValue{}
	for _, s := range settings {
		v := &flagValue{isBool: s.value.Kind() == reflect.Bool}
		flagged[s.key] = v
		fs.Var(v, s.key, s.help)
	}
	fs.Usage = func() { Usage(out, name, settings) }

	// Flags are parsed first only to learn --config; they are applied last.
	// Flags may come before, between or after the positional arguments:
	// "migrate down --database.url X" must act on X, not on the default.
	var positional []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return nil, err
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		rest = rest[1:]
	}
	setByFlag := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { setByFlag[f.Name] = true })

	w := &where{file: configFile, lines: map[string]int{}, env: map[string]bool{},
		flag: setByFlag}
	if configFile != "" {
		if err := loadFile(configFile, root.Elem(), w.lines); err != nil {
			return nil, err
		}
	}
	for _, s := range settings {
		envName := EnvName(s.key)
		if raw := env(envName); raw != "" {
			if err := setScalar(s.value, raw); err != nil {
				return nil, fmt.Errorf("config: environment %s: %w", envName, err)
			}
			w.env[s.key] = true
		}
	}
	for _, s := range settings {
		if setByFlag[s.key] {
			if err := setScalar(s.value, flagged[s.key].text(s.value.Kind() == reflect.Slice)); err != nil {
				return nil, fmt.Errorf("config: flag --%s: %w", s.key, err)
			}
		}
	}
	if err := check(root.Elem(), settings, w); err != nil {
		return nil, err
	}
	if configFile != "" {
		if err := checkOtherCommand(cfg, configFile); err != nil {
			return nil, err
		}
	}
	return positional, nil
}

// checkOtherCommand checks, in a file shared by the detector and the
// trainer, the other command's sections, which Load skips: a mistake in
// them is found by whichever command starts first, with its line.
func checkOtherCommand(cfg any, file string) error {
	var other any
	switch cfg.(type) {
	case *Detector:
		other = DefaultTrainer()
	case *Trainer:
		other = DefaultDetector()
	default:
		return nil
	}
	v := reflect.ValueOf(other).Elem()
	w := &where{file: file, lines: map[string]int{}, env: map[string]bool{},
		flag: map[string]bool{}}
	if err := loadFile(file, v, w.lines); err != nil {
		return err
	}
	return check(v, collect(v, ""), w)
}

// flagValue collects a setting's flag values. A boolean flag may stand alone
// (--migrate means --migrate=true); a list flag may be repeated, each
// occurrence adding to the list.
type flagValue struct {
	isBool bool
	values []string
}

func (f *flagValue) String() string   { return strings.Join(f.values, ",") }
func (f *flagValue) IsBoolFlag() bool { return f.isBool }

func (f *flagValue) Set(x string) error {
	f.values = append(f.values, x)
	return nil
}

// text is what the flag says: the last value, or for a list all of them.
func (f *flagValue) text(list bool) string {
	if list {
		return strings.Join(f.values, ",")
	}
	return f.values[len(f.values)-1]
}

// LoadNoArgs is Load for a command that takes no positional arguments: a
// stray word (a mistyped flag without its dashes, say) is an error rather
// than silently ignored.
func LoadNoArgs(name string, cfg any, args []string, env func(string) string,
	out io.Writer) error {
	rest, err := Load(name, cfg, args, env, out)
	if err != nil {
		return err
	}
	return NoArgs(name, rest)
}

// NoArgs refuses the positional arguments rest of command name: a stray
// word (a mistyped flag without its dashes, say) is an error rather than
// silently ignored.
func NoArgs(name string, rest []string) error {
	if len(rest) > 0 {
		return fmt.Errorf("%s: unexpected argument %q (settings are flags: --key value)",
			name, rest[0])
	}
	return nil
}

// EnvName is the environment variable of a setting key.
func EnvName(key string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return EnvPrefix + strings.ToUpper(r.Replace(key))
}

// Usage writes every setting with its flag, variable, default and meaning.
func Usage(out io.Writer, name string, settings []setting) {
	fmt.Fprintf(out, "Usage: %s [flags]\n\n", name)
	fmt.Fprintf(out, "Settings, by precedence: flag > environment > --config file > default.\n\n")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FLAG\tENVIRONMENT\tDEFAULT\tMEANING")
	fmt.Fprintf(tw, "--config\t%sCONFIG\t\tYAML file with settings\n", EnvPrefix)
	for _, s := range settings {
		def := s.def
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(tw, "--%s\t%s\t%s\t%s\n", s.key, EnvName(s.key), def, s.help)
	}
	tw.Flush()
}

// Table returns the settings of cfg as Markdown table rows (key, variable,
// default, meaning), so the README's table can be checked against the code.
func Table(cfg any) []string {
	var rows []string
	for _, s := range collect(reflect.ValueOf(cfg).Elem(), "") {
		def := "(none)"
		if s.def != "" {
			def = "`" + s.def + "`"
		}
		rows = append(rows, fmt.Sprintf("| `%s` | `%s` | %s | %s |",
			s.key, EnvName(s.key), def, s.help))
	}
	return rows
}

func collect(v reflect.Value, prefix string) []setting {
	var out []setting
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key, ok := yamlKey(f)
		if !ok {
			continue
		}
		if prefix != "" {
			key = prefix + "." + key
		}
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Time{}) {
			out = append(out, collect(fv, key)...)
			continue
		}
		if f.Tag.Get("flag") == "-" || !scalarKind(f.Type) {
			continue
		}
		out = append(out, setting{key: key, help: f.Tag.Get("help"),
			valid: f.Tag.Get("range"), value: fv, def: format(fv)})
	}
	return out
}

func yamlKey(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	tag := f.Tag.Get("yaml")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" {
		return "", false
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name, true
}

var durationType = reflect.TypeOf(time.Duration(0))

func scalarKind(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64, reflect.Float64:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.String || t.Elem() == durationType
	}
	return false
}

func format(v reflect.Value) string {
	if v.Type() == durationType {
		return time.Duration(v.Int()).String()
	}
	switch v.Kind() {
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = format(v.Index(i))
		}
		return strings.Join(parts, ",")
	case reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	}
	return fmt.Sprint(v.Interface())
}

// errSyntax marks a value that does not parse as its setting's type.
var errSyntax = errors.New("invalid value")

// setScalar parses raw into v according to v's type.
func setScalar(v reflect.Value, raw string) error {
	if v.Type() == durationType {
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("%w %q: want a duration such as 30s or 5m", errSyntax, raw)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("%w %q: want true or false", errSyntax, raw)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return fmt.Errorf("%w %q: want an integer", errSyntax, raw)
		}
		v.SetInt(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return fmt.Errorf("%w %q: want a number", errSyntax, raw)
		}
		v.SetFloat(x)
	case reflect.Slice:
		list := reflect.MakeSlice(v.Type(), 0, 0)
		for _, p := range strings.Split(raw, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			e := reflect.New(v.Type().Elem()).Elem()
			if err := setScalar(e, p); err != nil {
				return err
			}
			list = reflect.Append(list, e)
		}
		if list.Len() == 0 {
			list = reflect.Zero(v.Type())
		}
		v.Set(list)
	default:
		return fmt.Errorf("%w: a %s cannot be set from text", errSyntax, v.Type())
	}
	return nil
}

func readFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return b, nil
}
