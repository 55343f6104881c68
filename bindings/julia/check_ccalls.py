#!/usr/bin/env python3
"""Checks the Julia binding against hangar.h without Julia: every ccall names a function
the header declares, with the same number of arguments and compatible types and return
type; every header function has a ccall; the Julia mirrors of the header's structs have
the same fields and types; the constants have the header's values.
Usage: check_ccalls.py HANGAR_H JULIA_SRC_DIR"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hangar_h  # noqa: E402

CCALL = re.compile(r"ccall\(\(:(?P<name>\w+),\s*libhangar\),\s*(?P<ret>[\w{}]+),\s*\((?P<types>[^()]*)\)")
JSTRUCT = re.compile(r"^struct (?P<name>Hangar\w+)\n(?P<body>.*?)^end", re.M | re.S)
JCONST = re.compile(r"^const (?P<name>HANGAR_\w+) = (?P<value>-?\d+)$", re.M)

# Julia types a ccall may use in place of the canonical one for the same C type.
EQUIVALENT = {
    "Cint": {"Int32"}, "Int32": {"Cint"}, "Csize_t": {"UInt"}, "Cstring": {"Ptr{UInt8}", "Ptr{Cchar}"},
    "Ptr{Cvoid}": {"Ptr{Nothing}"},
}


def compatible(want, got):
    if want == got or got in EQUIVALENT.get(want, ()):
        return True
    m = re.match(r"^Ptr\{(.*)\}$", want)
    if m and got in ("Ref{%s}" % m.group(1),):
        return True  # Ref{T} is passed as Ptr{T}
    if want == "Ptr{Cvoid}" and got.startswith("Ptr{"):
        return True  # any pointer converts to void *
    return False


def main():
    header = open(sys.argv[1]).read()
    funcs = hangar_h.functions(header)
    structs = hangar_h.structs(header)
    consts = hangar_h.constants(header)
    errors, seen, calls = [], set(), 0
    for root, _, files in os.walk(sys.argv[2]):
        for f in sorted(files):
            if not f.endswith(".jl"):
                continue
            path = os.path.join(root, f)
            text = open(path).read()
            for m in CCALL.finditer(text):
                calls += 1
                name = m.group("name")
                where = "%s: ccall of %s" % (path, name)
                if name not in funcs:
                    errors.append("%s: hangar.h declares no such function" % where)
                    continue
                seen.add(name)
                ret, params = funcs[name]
                types = [t.strip() for t in m.group("types").split(",") if t.strip()]
                if len(types) != len(params):
                    errors.append("%s: %d argument types, hangar.h has %d" % (where, len(types), len(params)))
                    continue
                want_ret = hangar_h.julia_type(ret, ret=True)
                if not compatible(want_ret, m.group("ret")):
                    errors.append("%s: returns %s, hangar.h says %s (%s)" % (where, m.group("ret"), ret, want_ret))
                for (ctype, pname), got in zip(params, types):
                    want = hangar_h.julia_type(ctype)
                    if not compatible(want, got):
                        errors.append("%s: argument %s is %s, hangar.h says %s (%s)" % (where, pname, got, ctype, want))
            for m in JSTRUCT.finditer(text):
                jname = m.group("name")
                cname = {v: k for k, v in hangar_h.STRUCT_NAMES.items()}.get(jname)
                if cname is None:
                    continue
                jfields = [tuple(x.strip() for x in line.strip().split("::")) for line in m.group("body").splitlines() if "::" in line]
                cfields = [(n, hangar_h.julia_type(t)) for t, n in structs.get(cname, [])]
                if jfields != cfields:
                    errors.append("%s: struct %s has fields %s, hangar.h's %s has %s" % (path, jname, jfields, cname, cfields))
            for m in JCONST.finditer(text):
                if consts.get(m.group("name")) != int(m.group("value")):
                    errors.append("%s: %s = %s, hangar.h says %s" % (path, m.group("name"), m.group("value"), consts.get(m.group("name"))))
    missing = sorted(set(funcs) - seen)
    if missing:
        errors.append("hangar.h functions without a ccall: " + ", ".join(missing))
    for e in errors:
        print("error:", e, file=sys.stderr)
    print("%d ccalls checked against %d functions of hangar.h: %d problems" % (calls, len(funcs), len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
