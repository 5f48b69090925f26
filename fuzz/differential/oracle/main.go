package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"
)

type Case struct {
	Src     string `json:"src"`
	Missing string `json:"missing"`
}
type Res struct {
	Out string `json:"out"`
	Err string `json:"err"`
}

var funcs = template.FuncMap{
	"split": func(s, sep string) []string { return strings.Split(s, sep) },
	"strmap": func(args ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(args); i += 2 {
			m[args[i]] = args[i+1]
		}
		return m
	},
	"imap": func() map[string]interface{} {
		return map[string]interface{}{"a": 1.5, "n": nil, "s": "str", "l": []interface{}{1.0, "x", nil, true}, "m": map[string]interface{}{"k": "v"}}
	},
	"ilist": func() []interface{} { return []interface{}{1.0, "x", nil, true, 1e6, 0.00001} },
	"incr":  func(i int) int { return i + 1 },
}

func run(c Case) (r Res) {
	defer func() {
		if x := recover(); x != nil {
			r.Err = fmt.Sprintf("PANIC %v", x)
		}
	}()
	t := template.New("t").Funcs(funcs)
	if c.Missing != "" {
		t = t.Option("missingkey=" + c.Missing)
	}
	t, err := t.Parse(c.Src)
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
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	w := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for sc.Scan() {
		var c Case
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			panic(err)
		}
		enc.Encode(run(c))
	}
	w.Flush()
}
