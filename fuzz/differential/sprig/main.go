// The Go oracle for the Sprig goldens: renders each case of cases.txt (one template a line;
// blank lines and lines starting with "##" are skipped) with text/template and
// sprig.HermeticTxtFuncMap() under consul-template's "sprig_" prefix (template/template.go),
// and writes one JSON object a line: {"src": ..., "out": ..., "err": ...}.
//
// Built in GOPATH mode by golden.sh; used only to produce the committed goldens.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

type res struct {
	Src string `json:"src"`
	Out string `json:"out"`
	Err string `json:"err"`
}

func funcs() template.FuncMap {
	m := template.FuncMap{}
	for k, v := range sprig.HermeticTxtFuncMap() {
		m["sprig_"+k] = v
	}
	return m
}

func run(src string) (r res) {
	r.Src = src
	defer func() {
		if x := recover(); x != nil {
			r.Err = fmt.Sprintf("PANIC %v", x)
		}
	}()
	t, err := template.New("t").Funcs(funcs()).Parse(src)
	if err != nil {
		r.Err = err.Error()
		return
	}
	var b strings.Builder
	err = t.Execute(&b, nil)
	r.Out = b.String()
	if err != nil {
		r.Err = err.Error()
	}
	return
}

func main() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	w := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "##") {
			continue
		}
		if err := enc.Encode(run(line)); err != nil {
			panic(err)
		}
	}
	w.Flush()
}
