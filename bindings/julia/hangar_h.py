"""Reads the function prototypes, structs and constants of hangar.h (shared by
gen_lib.py, which writes src/LibHangar.jl, and check_ccalls.py, which checks it)."""
import re

PROTO = re.compile(r"^(?P<ret>[A-Za-z_][\w\s\*]*?)\s*\b(?P<name>hangar_\w+)\((?P<args>.*)\);$")
STRUCT = re.compile(r"typedef struct (?P<name>hangar_\w+) \{(?P<body>.*?)\} (?P=name);", re.S)
DEFINE = re.compile(r"^#define (?P<name>HANGAR_\w+) (?P<value>-?\d+)$", re.M)

# Julia names of the header's plain structs.
STRUCT_NAMES = {
    "hangar_key": "HangarKey",
    "hangar_gc_report": "HangarGcReport",
    "hangar_sample_info": "HangarSampleInfo",
    "hangar_view": "HangarView",
    "hangar_value": "HangarValue",
    "hangar_diff_counts": "HangarDiffCounts",
    "hangar_diff_entry": "HangarDiffEntry",
    "hangar_conflict": "HangarConflict",
    "hangar_commit_info": "HangarCommitInfo",
}


def norm(ctype):
    """'const struct hangar_key *' -> 'const hangar_key *' with single spaces."""
    t = ctype.replace("struct ", "")
    t = re.sub(r"\s*\*", " *", t)
    t = re.sub(r"\s+", " ", t).strip()
    return t.replace("* *", "**")


def split_param(p):
    """'const size_t *shape_ptr' -> ('const size_t *', 'shape_ptr')."""
    m = re.match(r"^(?P<type>.*?)(?P<name>\w+)$", p.strip())
    return norm(m.group("type")), m.group("name")


def functions(header_text):
    out = {}
    for line in header_text.splitlines():
        m = PROTO.match(line.strip())
        if not m:
            continue
        args = m.group("args").strip()
        params = [] if args in ("", "void") else [split_param(a) for a in args.split(",")]
        out[m.group("name")] = (norm(m.group("ret")), params)
    return out


def structs(header_text):
    out = {}
    for m in STRUCT.finditer(header_text):
        fields = []
        for line in m.group("body").splitlines():
            line = line.strip()
            if not line or line.startswith("//"):
                continue
            fields.append(split_param(line.rstrip(";")))
        out[m.group("name")] = fields
    return out


def constants(header_text):
    return {m.group("name"): int(m.group("value")) for m in DEFINE.finditer(header_text)}


def julia_type(ctype, ret=False):
    """The Julia type a ccall uses for a C type (the one gen_lib.py writes)."""
    t = norm(ctype)
    base = t.replace("const ", "")
    scalars = {
        "hangar_status": "Cint", "int32_t": "Int32", "uint64_t": "UInt64", "size_t": "Csize_t",
        "bool": "Bool", "double": "Cdouble", "void": "Cvoid", "uint32_t": "UInt32", "int64_t": "Int64",
    }
    if base in scalars:
        return scalars[base]
    if base in STRUCT_NAMES:
        return STRUCT_NAMES[base]
    if base == "char *":
        return "Cstring" if t.startswith("const") and not ret else "Ptr{UInt8}"
    if base in ("void *", "uint8_t *", "ArrowArrayStream *"):
        return "Ptr{UInt8}" if base == "uint8_t *" else "Ptr{Cvoid}"
    if base.endswith(" **"):
        return "Ptr{Ptr{Cvoid}}"
    if base.endswith(" *"):
        inner = base[:-2]
        if inner in scalars:
            return "Ptr{%s}" % scalars[inner]
        if inner in STRUCT_NAMES:
            return "Ptr{%s}" % STRUCT_NAMES[inner]
        if inner.startswith("hangar_"):
            return "Ptr{Cvoid}"  # opaque handle
    raise ValueError("no Julia type for C type %r" % ctype)
