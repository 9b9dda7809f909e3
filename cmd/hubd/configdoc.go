package main

import (
	"fmt"
	"io"
	"strings"
)

//go:generate go test -run ^TestConfigurationReference$ -update-config-doc .

// configDocPath is the configuration reference, relative to this package,
// that writeConfigReference produces and TestConfigurationReference keeps
// current.
const configDocPath = "../../docs/configuration.md"

// configDocIntro heads the configuration reference; the table of settings
// follows it.
const configDocIntro = `# Configuration

<!-- Generated from the settings table in cmd/hubd/config.go by
     go generate ./cmd/hubd; do not edit. A test fails when it differs. -->

` + "`hubd`" + ` with no arguments listens on ` + "`127.0.0.1:8080`" + ` and keeps
everything in memory. Every setting below can come from three places:

- a YAML file named by ` + "`-config`" + ` (or ` + "`HUBD_CONFIG`" + `), whose keys are the
  settings' names; [` + "`configs/hubd.yaml`" + `](../configs/hubd.yaml) lists every
  one with its default;
- an environment variable, ` + "`HUBD_`" + ` and the name in upper case with
  underscores;
- a flag, ` + "`-`" + ` and the name.

A flag wins over the environment, which wins over the file. A list is comma
separated in a flag or variable, and a YAML list or a comma-separated string
in the file. An invalid configuration makes hubd exit with status 2 and name
every bad setting and where it came from. ` + "`hubd -help`" + ` prints the same
list; ` + "`hubd version`" + ` prints the version.

` + "```sh" + `
hubd -help 2>&1 | grep -A1 -- '-client-buffer'
` + "```" + `

` + "```output" + `
  -client-buffer value
    	frames that may wait for one subscriber before it is evicted (env HUBD_CLIENT_BUFFER, default "64")
` + "```" + `

What the limits protect and how they show to clients is in
[security.md](security.md); the cluster's settings are explained in
[cluster.md](cluster.md).

| setting | environment | default | meaning |
| --- | --- | --- | --- |
`

// writeConfigReference writes docs/configuration.md: the introduction and
// one row per entry of settings, in its order, with the setting's
// environment variable and default.
func writeConfigReference(w io.Writer) error {
	var b strings.Builder
	b.WriteString(configDocIntro)
	cell := strings.NewReplacer("|", `\|`, "*", `\*`, "\n", " ")
	for _, s := range settings {
		def := "(none)"
		if s.def != "" {
			def = "`" + s.def + "`"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", s.name, envName(s.name), def, cell.Replace(s.help))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
