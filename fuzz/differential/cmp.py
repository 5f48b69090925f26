#!/usr/bin/env python3
# Compares the Go oracle's results with ours, case by case: same error text, or same output.
import json, sys
d = sys.argv[2] if len(sys.argv) > 2 else "."
cases = [json.loads(l) for l in open(d + "/cases.jsonl")]
go = [json.loads(l) for l in open(d + "/go.jsonl")]
rs = [json.loads(l) for l in open(d + "/rust.jsonl")]
bad = 0
lim = int(sys.argv[1]) if len(sys.argv) > 1 else 40
for c, g, r in zip(cases, go, rs):
    if g["err"]:
        ok = r["err"] == g["err"]
    else:
        ok = (not r["err"]) and r["out"] == g["out"]
    if not ok:
        bad += 1
        if bad <= lim:
            print("SRC ", repr(c["src"]), c["missing"])
            print(" go ", repr(g["out"]), repr(g["err"]))
            print(" rs ", repr(r["out"]), repr(r["err"]))
print("mismatches", bad, "of", len(cases))
