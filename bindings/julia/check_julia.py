#!/usr/bin/env python3
"""Static checks of the Julia binding for mistakes that Julia itself shows only at run
time (no Julia is installed where libhangar is built and tested):

1. a function of Base (merge!, push!, keys, ...) defined or exported as the package's own
   instead of extending Base's: `using Hangar` then `merge!(...)` is then ambiguous;
2. a raw pointer (`ptr(h)`, `h.ptr`) passed to a C call: nothing keeps the handle alive
   while the call runs, so its finalizer may free it mid-call (pass the handle itself;
   Base.cconvert/unsafe_convert give ccall the pointer and root the handle);
3. the library path fixed when the package is precompiled (`const libhangar =
   get(ENV, ...)` evaluated once, at precompile time) instead of resolved in `__init__`;
4. a handle type without `Base.show` (the REPL prints its raw pointer) or without
   `Base.unsafe_convert` (it cannot be passed to a C call).

Usage: check_julia.py JULIA_SRC_DIR   (exit 1 with one line per problem)"""
import os
import re
import sys

# Base functions a binding like this one is likely to define for its own types.
BASE_FUNCS = {
    "merge!", "merge", "push!", "pop!", "delete!", "get", "get!", "getindex", "setindex!",
    "haskey", "keys", "values", "length", "isempty", "iterate", "close", "isopen", "show",
    "summary", "size", "empty!", "append!", "copy", "convert", "read", "write", "open",
    "first", "last", "collect", "filter", "map", "sort", "in", "print", "string", "parent",
    "names", "reset", "flush", "wait", "lock", "unlock", "eltype", "ndims", "similar",
}
DEF = re.compile(r"^(?:function\s+)?(?P<name>(?:[A-Za-z_][\w.]*\.)?[A-Za-z_][\w!]*)\s*\((?P<rest>.*)$", re.M)
EXPORT = re.compile(r"^export\s+(?P<names>(?:[^\n]*,\s*\n)*[^\n]*)$", re.M)
HANDLES = re.compile(r"for \(T, free\) in \((?P<list>.*?)\)\n", re.S)


def calls(text, prefix):
    """Every call `prefix...(args)` with its full argument text (balanced parentheses)."""
    for m in re.finditer(re.escape(prefix) + r"\w+\(", text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        yield m.group(0)[:-1], text[m.end():i - 1]


def main():
    src = sys.argv[1]
    files = {f: open(os.path.join(src, f)).read() for f in sorted(os.listdir(src)) if f.endswith(".jl")}
    errors = []
    for f, text in files.items():
        # 1. Base functions defined as the package's own.
        for m in DEF.finditer(text):
            name, rest = m.group("name"), m.group("rest")
            is_def = m.group(0).startswith("function ") or re.search(r"\)\s*(where\s+[^=]*)?=(?!=)", rest)
            if is_def and name in BASE_FUNCS:
                errors.append("%s: defines its own %s; extend Base.%s instead (`function Base.%s(...)`)" % (f, name, name, name))
        for m in EXPORT.finditer(text):
            for name in re.split(r"[,\s]+", m.group("names")):
                if name in BASE_FUNCS:
                    errors.append("%s: exports %s, which shadows Base.%s" % (f, name, name))
        # 2. Raw pointers passed to C calls.
        for fn, args in calls(text, "L.hangar_"):
            if re.search(r"\bptr\(|\.ptr\b", args):
                errors.append("%s: %s(%s) passes a raw pointer; pass the handle itself" % (f, fn, args.strip()))
    # 3. The library resolved at load time.
    lib = files.get("LibHangar.jl", "")
    if re.search(r"const\s+libhangar\s*=\s*get\(\s*ENV", lib):
        errors.append("LibHangar.jl: the library path is read from ENV at precompile time; resolve it in __init__")
    if not re.search(r"function __init__\(\)(?:(?!\nend).)*HANGAR_LIB", lib, re.S):
        errors.append("LibHangar.jl: no __init__ that loads $HANGAR_LIB")
    # 4. show and unsafe_convert for every handle type.
    main_text = files.get("Hangar.jl", "")
    m = HANDLES.search(main_text)
    types = re.findall(r"\(:(\w+),\s*:\w+\)", m.group("list")) if m else []
    if not types:
        errors.append("Hangar.jl: no handle types found (`for (T, free) in ((:Type, :free_fn), ...)`)")
    converted = set()
    for m in re.finditer(r"for T in \((?P<list>[^)]*)\)\n(?P<body>(?:[^\n]*\n)*?)end", main_text):
        if "Base.unsafe_convert" in m.group("body"):
            converted |= set(re.findall(r":(\w+)", m.group("list")))
    for t in types:
        if not re.search(r"Base\.show\(io::IO, \w+::%s\)" % t, main_text):
            errors.append("Hangar.jl: no Base.show(io::IO, ::%s): the REPL would print a raw pointer" % t)
        if t not in converted and not re.search(r"Base\.unsafe_convert\(::Type\{Ptr\{Cvoid\}\}, \w+::%s\)" % t, main_text):
            errors.append("Hangar.jl: no Base.unsafe_convert for %s: it cannot be passed to a C call" % t)
    for e in errors:
        print("error:", e, file=sys.stderr)
    print("Julia binding: %d handle types, %d files checked: %d problems" % (len(types), len(files), len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
