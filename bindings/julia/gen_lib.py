#!/usr/bin/env python3
"""Writes src/LibHangar.jl, the low-level layer that mirrors hangar.h one to one.
Usage: python3 bindings/julia/gen_lib.py include/hangar.h [OUTPUT]"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hangar_h  # noqa: E402

header = open(sys.argv[1]).read()
funcs = hangar_h.functions(header)
structs = hangar_h.structs(header)
consts = hangar_h.constants(header)

out = [
    "# Generated from hangar.h by bindings/julia/gen_lib.py; do not edit.",
    "# One ccall per function of the C interface; documentation lives in hangar.h.",
    "module LibHangar",
    "",
    "using Libdl",
    "",
    "# ccall finds the library by its soname. `__init__` runs where the package is loaded",
    "# (not when it is precompiled): it loads $HANGAR_LIB (a path) when set, which ccall then",
    "# finds by that soname; otherwise the system's search path supplies it.",
    'const libhangar = "libhangar.so.%d.%d"' % (consts["HANGAR_VERSION_MAJOR"], consts["HANGAR_VERSION_MINOR"]),
    "",
    "function __init__()",
    '    path = get(ENV, "HANGAR_LIB", "")',
    "    isempty(path) || Libdl.dlopen(path, Libdl.RTLD_GLOBAL)",
    "    return nothing",
    "end",
    "",
]
for name, value in sorted(consts.items(), key=lambda kv: kv[0]):
    out.append("const %s = %d" % (name, value))
out.append("")
for cname, fields in structs.items():
    jname = hangar_h.STRUCT_NAMES[cname]
    out.append("struct %s" % jname)
    for ctype, fname in fields:
        out.append("    %s::%s" % (fname, hangar_h.julia_type(ctype)))
    out.append("end")
    out.append("")
for name, (ret, params) in funcs.items():
    args = ", ".join(p for _, p in params)
    types = "".join(hangar_h.julia_type(t) + ", " for t, _ in params)
    types = "(" + types.rstrip(", ") + ("," if len(params) == 1 else "") + ")"
    out.append("%s(%s) = ccall((:%s, libhangar), %s, %s%s)" % (
        name, args, name, hangar_h.julia_type(ret, ret=True), types, (", " + args) if args else ""))
out.append("")
out.append("end # module")
path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "src", "LibHangar.jl")
open(path, "w").write("\n".join(out) + "\n")
print("wrote %s: %d functions, %d structs, %d constants" % (path, len(funcs), len(structs), len(consts)))
