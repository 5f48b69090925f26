#!/usr/bin/env python3
# Generates structured Go templates (control flow, variables, defines, trim markers, missingkey modes)
# over plain data: gen.py SEED OUT.jsonl [COUNT]
import json, random, sys
random.seed(int(sys.argv[1]))
ATOMS = ['"a"', '""', '1', '0', '-2', '1.5', 'true', 'false', 'nil', '.', '$', '$x', '(split "a,b,c" ",")', '(split "" ",")',
         '(strmap "k" "v" "a" "b")', '(strmap)', '(imap)', '(imap).a', '(imap).n', '(imap).zz', '(imap).l', '(imap).m', '(imap).m.k', '(imap).m.zz',
         '(imap).s.x', '(imap).n.x', '(imap).zz.y', '.X', '.X.Y', '$x.a', '$.a', '(ilist)', '(index (imap) "l")', '(index (ilist) 2)', "'x'", '0x10', '1e3']
def atom():
    return random.choice(ATOMS)
def pipe():
    r = random.random()
    if r < 0.4: return atom()
    if r < 0.6: return random.choice(["len", "not", "print", "html", "index (imap)", "eq \"a\"", "and 1", "or 0", "printf \"%v\"", "printf \"%q\"", "slice"]) + " " + atom()
    if r < 0.8: return atom() + " | " + random.choice(["print", "printf \"<%v>\"", "len", "not", "html", "urlquery", "or \"\"", "and 1", "index (imap)"])
    return "(" + pipe() + ")" + random.choice(["", ".a", ".k"])
TRIM = ["", "-"]
def act(body):
    l = "{{" + random.choice(["", "", "- "]) 
    r = random.choice(["", "", " -"]) + "}}"
    return l + body + r
def block(depth):
    parts = []
    for _ in range(random.randint(1, 4)):
        k = random.random()
        if k < 0.25 or depth > 3:
            parts.append(random.choice(["t", " ", "\n", "  x\n", "\r\n", "|"]))
        elif k < 0.45:
            parts.append(act(pipe()))
        elif k < 0.55:
            parts.append(act(random.choice(["$x := ", "$x = ", "$y := "]) + pipe()))
        elif k < 0.65:
            parts.append(act("if " + pipe()) + block(depth+1) + (act("else if " + pipe()) + block(depth+1) if random.random()<0.3 else "") + (act("else") + block(depth+1) if random.random()<0.5 else "") + act("end"))
        elif k < 0.75:
            parts.append(act("with " + random.choice(["", "$x := "]) + pipe()) + block(depth+1) + (act("else") + block(depth+1) if random.random()<0.5 else "") + act("end"))
        elif k < 0.9:
            decl = random.choice(["", "$v := ", "$i, $v := ", "$x = "])
            inner = block(depth+1)
            if random.random() < 0.3: inner += act(random.choice(["break", "continue", "if $v}}{{break}}{{end"]))
            parts.append(act("range " + decl + pipe()) + inner + (act("else") + block(depth+1) if random.random()<0.3 else "") + act("end"))
        elif k < 0.95:
            parts.append(act('template "d" ' + pipe()))
        else:
            parts.append("{{/* c */}}")
    return "".join(parts)
out = open(sys.argv[2] if len(sys.argv) > 2 else "cases.jsonl", "w")
n = 0
for _ in range(int(sys.argv[3]) if len(sys.argv) > 3 else 6000):
    body = "{{$x := " + atom() + "}}" + block(0)
    if random.random() < 0.5:
        body = '{{define "d"}}[{{.}}{{with $}}{{.}}{{end}}]{{end}}' + body
    else:
        body += '{{define "d"}}<{{.}}>{{end}}'
    out.write(json.dumps({"src": body, "missing": random.choice(["", "zero", "error"])}) + "\n")
    n += 1
print(n)
