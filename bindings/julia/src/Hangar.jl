"""
    Hangar

Julia binding of libhangar, version control for tensor data. `LibHangar` mirrors the C
header one to one; this module is the Julia-style API on top.

Arrays: libhangar stores arrays in C (row-major) order. A Julia array of size `(a, b)`
is stored with the C shape `(b, a)`, so arrays round-trip unchanged between Julia
programs, and an array written from C or NumPy with shape `(h, w)` reads in Julia with
size `(w, h)` (the same memory; `permutedims` gives NumPy's index order).

The library is `ENV["HANGAR_LIB"]` when set (a path to libhangar.so), else `libhangar` on
the system's library search path.
"""
module Hangar

include("LibHangar.jl")
const L = LibHangar

export HangarError, MergeConflictError, Repository, ReaderCheckout, WriterCheckout, Column,
       init_repository, checkout, checkout_writer, add_ndarray_column!, add_str_column!,
       add_bytes_column!, delete_column!, commit!, reset!, bulk, isdirty, commit_log, verify,
       branches, create_branch!, remove_branch!, branch_head, diff_text, commit_id,
       metadata, setmetadata!, columns, withview, subkeys, num_subsamples, log_entries,
       disk_usage, format_version, set_page_cache_budget!, page_cache_usage, column_name, column_compression, writer_lock_held, update!, append_sample!,
       add_remote!, remove_remote!, remotes, push_remote, fetch_remote, pull!, fetch_data!, fetch_data_keys!,
       clone_repository, open_remote, stream_stats, not_fetched, gc!

"""An error reported by libhangar: its status code and name, and the message."""
struct HangarError <: Exception
    status::Int32
    name::String
    message::String
end
Base.showerror(io::IO, e::HangarError) = print(io, "HangarError(", e.name, "): ", e.message)

"""A merge refused for conflicts; `conflicts` lists them (column, key, kind, digests)."""
struct MergeConflictError <: Exception
    message::String
    conflicts::Vector{NamedTuple}
end
Base.showerror(io::IO, e::MergeConflictError) = print(io, "MergeConflictError: ", e.message)

function last_message()
    need = Ref{Csize_t}(0)
    L.hangar_last_error_message(C_NULL, 0, need)
    buf = Vector{UInt8}(undef, max(need[], 1))
    L.hangar_last_error_message(buf, length(buf), C_NULL)
    return String(buf[1:end-1])
end

cstr(p) = p == C_NULL ? nothing : unsafe_string(p)
cstr(p::Cstring) = cstr(reinterpret(Ptr{UInt8}, p))

function read_conflicts(c::Ptr{Cvoid})
    n = Ref{Csize_t}(0)
    check(L.hangar_conflicts_len(c, n))
    out = NamedTuple[]
    for i in 0:n[]-1
        x = Ref{L.HangarConflict}()
        check(L.hangar_conflicts_get(c, i, x))
        v = x[]
        push!(out, (kind = v.kind, scope = v.scope, column = cstr(v.column), key = cstr(v.key),
                    base = cstr(v.base), ours = cstr(v.ours), theirs = cstr(v.theirs)))
    end
    return out
end

"""Throws the last error when `status` is not `HANGAR_OK`; called right after every call."""
function check(status::Integer)
    status == L.HANGAR_OK && return nothing
    msg = last_message()
    if status == L.HANGAR_E_MERGE_CONFLICT
        c = Ref{Ptr{Cvoid}}(C_NULL)
        if L.hangar_last_error_conflicts(c) == L.HANGAR_OK
            try
                throw(MergeConflictError(msg, read_conflicts(c[])))
            finally
                L.hangar_conflicts_free(c[])
            end
        end
    end
    throw(HangarError(status, unsafe_string(L.hangar_status_name(status)), msg))
end

"""The text of an owned buffer, which is freed."""
take_buf(p::Ptr{Cvoid}) = String(take_bytes(p))

"""The bytes of an owned buffer (a copy), which is freed."""
function take_bytes(p::Ptr{Cvoid})
    try
        return copy(unsafe_wrap(Array, L.hangar_buf_data(p), L.hangar_buf_len(p)))
    finally
        L.hangar_buf_free(p)
    end
end

function take_list(p::Ptr{Cvoid})
    try
        return [unsafe_string(L.hangar_strlist_get(p, i - 1)) for i in 1:L.hangar_strlist_len(p)]
    finally
        L.hangar_strlist_free(p)
    end
end

function out_handle(f)
    out = Ref{Ptr{Cvoid}}(C_NULL)
    check(f(out))
    return out[]
end

function commit_buf(f)
    buf = Vector{UInt8}(undef, L.HANGAR_COMMIT_ID_LEN + 1)
    check(f(buf, length(buf)))
    return unsafe_string(pointer(buf))
end

# Handles: finalizers only free (never close explicitly); `close` is idempotent. `parent`
# keeps the repository or checkout a handle came from alive as long as the handle.
for (T, free) in ((:Repository, :hangar_repo_free), (:ReaderCheckout, :hangar_reader_free),
                  (:WriterCheckout, :hangar_writer_free), (:Column, :hangar_column_free))
    @eval mutable struct $T
        ptr::Ptr{Cvoid}
        parent::Any
        function $T(p::Ptr{Cvoid}, parent = nothing)
            h = new(p, parent)
            finalizer(h) do x
                x.ptr == C_NULL || L.$free(x.ptr)
                x.ptr = C_NULL
            end
            return h
        end
    end
end

@doc "A repository. `Repository(path)` opens one; `init_repository` creates one." Repository
@doc "An immutable checkout of one commit." ReaderCheckout
@doc "The writer checkout (holds the writer lock until closed)." WriterCheckout
@doc "A column of a checkout: dict-like from sample keys to arrays or text." Column

function ptr(h)
    h.ptr == C_NULL && throw(HangarError(L.HANGAR_E_CLOSED, "HANGAR_E_CLOSED", "this handle was freed"))
    return h.ptr
end

# Handles are passed to the C calls themselves, never their raw pointers: `cconvert`
# returns the handle, so ccall keeps it (and its finalizer) alive for the whole call, and
# `unsafe_convert` takes the pointer only then (as HDF5.jl does).
for T in (:Repository, :ReaderCheckout, :WriterCheckout, :Column)
    @eval Base.cconvert(::Type{Ptr{Cvoid}}, h::$T) = h
    @eval Base.unsafe_convert(::Type{Ptr{Cvoid}}, h::$T) = ptr(h)
end

# What the REPL shows: the kind of handle and what it is about, never a raw pointer.
Base.show(io::IO, r::Repository) =
    print(io, "Hangar.Repository(", r.ptr == C_NULL ? "freed" : "open", ")")
# What a handle is about, or "closed" when its checkout was closed (show never throws).
describe(h, about) = h.ptr == C_NULL ? "freed" : try
    about(h)
catch
    "closed"
end
Base.show(io::IO, co::ReaderCheckout) =
    print(io, "Hangar.ReaderCheckout(", describe(co, c -> "commit " * first(commit_id(c), 16)), ")")
Base.show(io::IO, co::WriterCheckout) =
    print(io, "Hangar.WriterCheckout(", co.ptr == C_NULL ? "closed" : "open", ")")
Base.show(io::IO, col::Column) = print(io, "Hangar.Column(", describe(col, c -> repr(column_name(c))), ")")

"""The column's name."""
function column_name(col::Column)
    buf = Vector{UInt8}(undef, 128)
    check(L.hangar_column_name(col, buf, length(buf)))
    return unsafe_string(pointer(buf))
end

"""How the column's committed values are stored: "none", "zstd:<level>" or "lz4"."""
function column_compression(col::Column)
    buf = Vector{UInt8}(undef, 32)
    check(L.hangar_column_compression(col, buf, length(buf)))
    return unsafe_string(pointer(buf))
end

"""    Repository(path)

Opens the repository at `path` (the directory holding `.hangar/`)."""
Repository(path::AbstractString) = Repository(out_handle(o -> L.hangar_repo_open(path, o)))

"""    init_repository(path, user_name, user_email; remove_old=false)

Creates a repository in the existing directory `path`."""
init_repository(path::AbstractString, user_name::AbstractString, user_email::AbstractString; remove_old::Bool = false) =
    Repository(out_handle(o -> L.hangar_repo_init(path, user_name, user_email, remove_old, o)))

"""    checkout(repo; branch=nothing, commit=nothing)
    checkout(f, repo; ...)

A reader checkout of a branch head (default: the staging area's branch) or of a commit
(full id or unique prefix). The `do`-block form closes it afterwards."""
function checkout(repo::Repository; branch = nothing, commit = nothing)
    h = if commit !== nothing
        out_handle(o -> L.hangar_repo_checkout_commit(repo, commit, o))
    else
        out_handle(o -> L.hangar_repo_checkout(repo, something(branch, C_NULL), o))
    end
    return ReaderCheckout(h, repo)
end

"""    checkout_writer(repo; branch=nothing, new_branch=false, start=nothing, carry=false)
    checkout_writer(f, repo; branch=nothing, new_branch=false, start=nothing, carry=false)

The writer checkout, taking the repository's writer lock (`HangarError` with status
`HANGAR_E_LOCKED` while another writer holds it). The `do`-block form closes it. With
`new_branch=true`, `branch` is created first (at `start`, else at the current head) and
the staged changes move to it, as git's `checkout -b` (`HANGAR_E_DIRTY_STAGING` when
what they touch differs at `start` from the commit they are based on). With
`carry=true`, changes staged on another branch move to `branch` as git's `checkout`
switches branches (`HANGAR_E_DIRTY_STAGING` when what they touch differs at its head);
without it, as the original Hangar, any such change refuses the checkout."""
function checkout_writer(repo::Repository; branch = nothing, new_branch::Bool = false, start = nothing,
                         carry::Bool = false)
    if carry
        branch === nothing && throw(ArgumentError("carry=true needs the branch to switch to as branch"))
        new_branch && throw(ArgumentError("new_branch=true always carries the staged changes; drop carry"))
        start === nothing || throw(ArgumentError("start is for new_branch=true"))
        return WriterCheckout(out_handle(o -> L.hangar_repo_switch_writer_branch(repo, branch, o)), repo)
    end
    if new_branch
        branch === nothing && throw(ArgumentError("new_branch=true needs the new branch's name as branch"))
        h = out_handle(o -> L.hangar_repo_checkout_writer_new_branch(repo, branch, something(start, C_NULL), o))
        return WriterCheckout(h, repo)
    end
    start === nothing || throw(ArgumentError("start is for new_branch=true"))
    return WriterCheckout(out_handle(o -> L.hangar_repo_checkout_writer(repo, something(branch, C_NULL), o)), repo)
end

for fn in (:checkout, :checkout_writer)
    @eval function $fn(f::Function, repo::Repository; kw...)
        co = $fn(repo; kw...)
        try
            return f(co)
        finally
            close(co)
        end
    end
end

Base.close(co::ReaderCheckout) = co.ptr == C_NULL ? nothing : check(L.hangar_reader_close(co))
Base.close(co::WriterCheckout) = co.ptr == C_NULL ? nothing : check(L.hangar_writer_close(co))
Base.close(repo::Repository) = nothing

"""The column `name` of a checkout."""
function Base.getindex(co::ReaderCheckout, name::AbstractString)
    Column(out_handle(o -> L.hangar_reader_column(co, name, o)), co)
end
function Base.getindex(co::WriterCheckout, name::AbstractString)
    Column(out_handle(o -> L.hangar_writer_column(co, name, o)), co)
end

columns(co::ReaderCheckout) = take_list(out_handle(o -> L.hangar_reader_columns(co, o)))
columns(co::WriterCheckout) = take_list(out_handle(o -> L.hangar_writer_columns(co, o)))

const DTYPES = Dict{DataType,Int32}(
    Bool => L.HANGAR_DTYPE_BOOL, UInt8 => L.HANGAR_DTYPE_U8, UInt16 => L.HANGAR_DTYPE_U16,
    UInt32 => L.HANGAR_DTYPE_U32, UInt64 => L.HANGAR_DTYPE_U64, Int8 => L.HANGAR_DTYPE_I8,
    Int16 => L.HANGAR_DTYPE_I16, Int32 => L.HANGAR_DTYPE_I32, Int64 => L.HANGAR_DTYPE_I64,
    Float16 => L.HANGAR_DTYPE_F16, Float32 => L.HANGAR_DTYPE_F32, Float64 => L.HANGAR_DTYPE_F64)
const ELTYPES = Dict(v => k for (k, v) in DTYPES)

dtype_code(::Type{T}) where {T} = get(DTYPES, T) do
    throw(ArgumentError("libhangar stores Bool, (U)Int8-64 and Float16/32/64 elements, not $T"))
end

# C shape of a Julia array: its size reversed.
cshape(dims) = Csize_t[reverse(collect(dims))...]

"""    add_ndarray_column!(co, name, T, dims...; variable_shape=false, nested=false, compression="none")

Creates a column of arrays of element type `T` and Julia size `dims` (the maximum size
in each dimension when `variable_shape`). `compression` ("zstd", "zstd:<level>", "lz4")
stores committed values compressed, as Parquet segments."""
function add_ndarray_column!(co::WriterCheckout, name::AbstractString, ::Type{T}, dims::Integer...;
                             variable_shape::Bool = false, nested::Bool = false,
                             compression::AbstractString = "none") where {T}
    shape = cshape(dims)
    spec = out_handle(o -> L.hangar_ndarray_spec_new(dtype_code(T), shape, length(shape), o))
    try
        check(L.hangar_ndarray_spec_variable_shape(spec, variable_shape))
        check(L.hangar_ndarray_spec_contains_subsamples(spec, nested))
        check(L.hangar_ndarray_spec_compression(spec, compression))
        return Column(out_handle(o -> L.hangar_writer_add_ndarray_column(co, name, spec, o)), co)
    finally
        L.hangar_ndarray_spec_free(spec)
    end
end

add_str_column!(co::WriterCheckout, name::AbstractString; nested::Bool = false,
                compression::AbstractString = "none") =
    Column(out_handle(o -> L.hangar_writer_add_text_column_compressed(co, name, L.HANGAR_KIND_STR, nested,
                                                                      compression, o)), co)
add_bytes_column!(co::WriterCheckout, name::AbstractString; nested::Bool = false,
                  compression::AbstractString = "none") =
    Column(out_handle(o -> L.hangar_writer_add_text_column_compressed(co, name, L.HANGAR_KIND_BYTES, nested,
                                                                      compression, o)), co)
delete_column!(co::WriterCheckout, name::AbstractString) = check(L.hangar_writer_delete_column(co, name))

# Keys: non-negative integers or strings, as C hangar_key values valid inside `f`.
function withkey(f, k::Integer)
    k < 0 && throw(ArgumentError("sample keys are non-negative integers or strings, not $k"))
    return f(L.HangarKey(reinterpret(Cstring, C_NULL), UInt64(k)))
end
function withkey(f, k::AbstractString)
    s = String(k)
    GC.@preserve s f(L.HangarKey(Base.unsafe_convert(Cstring, s), UInt64(0)))
end
withkeys(f, k, ::Nothing) = withkey(hk -> f(hk, C_NULL), k)
withkeys(f, k, sub) = withkey(hk -> withkey(hs -> f(hk, Ref(hs)), sub), k)

julia_key(k::L.HangarKey) = k.text == reinterpret(Cstring, C_NULL) ? Int(k.number) : unsafe_string(k.text)

function column_kind(col::Column)
    kind = Ref{Int32}(0)
    check(L.hangar_column_schema(col, kind, C_NULL, C_NULL, C_NULL))
    return kind[]
end

function put_text(col::Column, data::Vector{UInt8}, key, sub)
    withkeys(key, sub) do hk, hs
        GC.@preserve data check(L.hangar_column_put_text(col, hk, hs, data, length(data)))
    end
end

"""`col[key] = value` (or `col[key, subkey] = value`): an array for numeric columns (stored
in C order with its size reversed), a string for str columns, a byte vector for bytes
columns."""
function Base.setindex!(col::Column, value::AbstractArray{T}, key, sub = nothing) where {T}
    if T == UInt8 && value isa AbstractVector && column_kind(col) == L.HANGAR_KIND_BYTES
        put_text(col, Vector{UInt8}(value), key, sub)
        return value
    end
    a = Array{T}(value)  # contiguous, column-major = C order with the size reversed
    shape = cshape(size(a))
    withkeys(key, sub) do hk, hs
        GC.@preserve a check(L.hangar_column_put(col, hk, hs, a, sizeof(a), dtype_code(T), shape, length(shape)))
    end
    return value
end
function Base.setindex!(col::Column, value::AbstractString, key, sub = nothing)
    put_text(col, Vector{UInt8}(codeunits(String(value))), key, sub)
    return value
end

"""`col[key]` (or `col[key, subkey]` for nested columns): a copy of the sample, an
`Array` (C shape reversed), a `String` (str columns) or a `Vector{UInt8}` (bytes)."""
function Base.getindex(col::Column, key, sub = nothing)
    withkeys(key, sub) do hk, hs
        info = Ref{L.HangarSampleInfo}()
        check(L.hangar_column_info(col, hk, hs, info, C_NULL, 0))
        i = info[]
        if i.kind != L.HANGAR_KIND_NDARRAY
            b = take_bytes(out_handle(o -> L.hangar_column_get_buf(col, hk, hs, o)))
            return i.kind == L.HANGAR_KIND_STR ? String(b) : b
        end
        shape = Vector{Csize_t}(undef, i.ndim)
        check(L.hangar_column_info(col, hk, hs, info, shape, length(shape)))
        a = Array{ELTYPES[i.dtype]}(undef, Int.(reverse(shape))...)
        GC.@preserve a check(L.hangar_column_get(col, hk, hs, a, sizeof(a), C_NULL))
        return a
    end
end

"""    withview(f, col, key[, subkey])

Calls `f` with a zero-copy array over the memory-mapped sample of a reader column. The
array is valid only inside `f`: copy what you keep."""
function withview(f, col::Column, key, sub = nothing)
    withkeys(key, sub) do hk, hs
        v = Ref{L.HangarView}()
        check(L.hangar_column_view(col, hk, hs, v))
        x = v[]
        dims = Int.(reverse(unsafe_wrap(Array, x.shape, x.ndim)))
        T = ELTYPES[x.dtype]
        GC.@preserve col f(unsafe_wrap(Array, Ptr{T}(x.data), Tuple(dims); own = false))
    end
end

function Base.haskey(col::Column, key)
    found = Ref{Bool}(false)
    withkey(hk -> check(L.hangar_column_contains(col, hk, C_NULL, found)), key)
    return found[]
end
function Base.haskey(col::Column, key::Tuple)
    found = Ref{Bool}(false)
    withkeys((hk, hs) -> check(L.hangar_column_contains(col, hk, hs, found)), key[1], key[2])
    return found[]
end

function Base.length(col::Column)
    n = Ref{Csize_t}(0)
    check(L.hangar_column_len(col, n))
    return Int(n[])
end

function num_subsamples(col::Column)
    n = Ref{Csize_t}(0)
    check(L.hangar_column_num_subsamples(col, n))
    return Int(n[])
end

function Base.delete!(col::Column, key, sub = nothing)
    withkeys((hk, hs) -> check(L.hangar_column_delete(col, hk, hs)), key, sub)
    return col
end

# A C hangar_value over `v` for a column of `kind`; what its pointers point to is pushed
# onto `keep`, which the caller preserves for the call.
function cvalue!(keep::Vector{Any}, kind::Integer, v)
    if v isa AbstractString || (kind == L.HANGAR_KIND_BYTES && v isa AbstractVector{UInt8})
        b = v isa AbstractString ? Vector{UInt8}(codeunits(String(v))) : Vector{UInt8}(v)
        push!(keep, b)
        return L.HangarValue(Int32(kind), 0, pointer(b), length(b), C_NULL, 0)
    end
    a = Array(v)  # contiguous, column-major = C order with the size reversed
    shape = cshape(size(a))
    push!(keep, a, shape)
    return L.HangarValue(L.HANGAR_KIND_NDARRAY, dtype_code(eltype(a)), pointer(a), sizeof(a), pointer(shape), length(shape))
end

# A C hangar_key for `k`; a string key's bytes are pushed onto `keep`.
function ckey!(keep::Vector{Any}, k)
    k isa Integer && k < 0 && throw(ArgumentError("sample keys are non-negative integers or strings, not $k"))
    k isa Integer && return L.HangarKey(reinterpret(Cstring, C_NULL), UInt64(k))
    s = String(k)
    push!(keep, s)
    return L.HangarKey(Base.unsafe_convert(Cstring, s), UInt64(0))
end

"""    update!(col, keys, values; subkeys = nothing)

Stores `values[i]` under `keys[i]` (subsample `subkeys[i]` of it in a nested column) in one
call, all or nothing: arrays of any shape the column allows, strings, byte vectors."""
function update!(col::Column, keys::AbstractVector, values::AbstractVector; subkeys = nothing)
    length(keys) == length(values) || throw(ArgumentError("$(length(keys)) keys for $(length(values)) values"))
    subkeys === nothing || length(subkeys) == length(keys) ||
        throw(ArgumentError("$(length(subkeys)) subkeys for $(length(keys)) keys"))
    kind = column_kind(col)
    keep = Any[]
    ks = [ckey!(keep, k) for k in keys]
    vs = [cvalue!(keep, kind, v) for v in values]
    ss = subkeys === nothing ? nothing : [ckey!(keep, k) for k in subkeys]
    GC.@preserve keep ks vs ss begin
        check(L.hangar_column_update(col, ks, ss === nothing ? C_NULL : ss, vs, length(ks)))
    end
    return col
end

"""    append_sample!(col, value; sample = nothing) -> String

Stores `value` under a newly generated key (a new subsample of nested sample `sample` when
given) and returns the key."""
function append_sample!(col::Column, value; sample = nothing)
    keep = Any[]
    v = Ref(cvalue!(keep, column_kind(col), value))
    b = GC.@preserve keep v begin
        if sample === nothing
            out_handle(o -> L.hangar_column_append(col, C_NULL, v, o))
        else
            withkey(hk -> out_handle(o -> L.hangar_column_append(col, Ref(hk), v, o)), sample)
        end
    end
    return take_buf(b)
end

"""    pop!(col, key[, subkey])

Removes sample `key` (subsample `subkey` of a nested sample) and returns its value as
`col[key]` would have."""
function Base.pop!(col::Column, key, sub = nothing)
    withkeys(key, sub) do hk, hs
        info = Ref{L.HangarSampleInfo}()
        shape = Vector{Csize_t}(undef, 32)
        b = take_bytes(out_handle(o -> L.hangar_column_pop(col, hk, hs, info, shape, length(shape), o)))
        i = info[]
        i.kind == L.HANGAR_KIND_STR && return String(b)
        i.kind == L.HANGAR_KIND_BYTES && return b
        T = ELTYPES[i.dtype]
        a = Array{T}(undef, Int.(reverse(shape[1:i.ndim]))...)
        GC.@preserve a b unsafe_copyto!(Ptr{UInt8}(pointer(a)), pointer(b), length(b))
        return a
    end
end

function drain(it::Ptr{Cvoid})
    keys = Any[]
    try
        # 256 keys a call; each is copied (julia_key) before the next call frees its text.
        batch = Vector{L.HangarKey}(undef, 256)
        n = Ref{Csize_t}(0)
        while true
            check(L.hangar_key_iter_next_batch(it, batch, length(batch), n))
            n[] == 0 && break
            for i in 1:n[]
                push!(keys, julia_key(batch[i]))
            end
        end
    finally
        L.hangar_key_iter_free(it)
    end
    return keys
end

"""The sample keys in key order (integers first, then strings)."""
Base.keys(col::Column) = drain(out_handle(o -> L.hangar_column_keys(col, o)))
"""The subsample keys of sample `key` of a nested column."""
subkeys(col::Column, key) = withkey(hk -> drain(out_handle(o -> L.hangar_column_subkeys(col, hk, o))), key)
Base.iterate(col::Column, state = (keys(col), 1)) =
    state[2] > length(state[1]) ? nothing : (state[1][state[2]], (state[1], state[2] + 1))
Base.eltype(::Type{Column}) = Any

commit!(co::WriterCheckout, message::AbstractString) =
    commit_buf((b, n) -> L.hangar_writer_commit(co, message, b, n))
reset!(co::WriterCheckout) = check(L.hangar_writer_reset(co))

"""
    bulk(f, co::WriterCheckout)

Runs `f()` in a bulk session: puts queue and are stored in parallel batches, durably
once the session ends (when `f` returns or throws). Use it for many puts in a row:

    bulk(co) do
        for i in 1:10_000
            images[i] = img(i)
        end
    end
"""
function bulk(f::Function, co::WriterCheckout)
    check(L.hangar_writer_bulk_begin(co))
    done = false
    try
        result = f()
        done = true
        return result
    finally
        status = L.hangar_writer_bulk_end(co)
        done && check(status)
    end
end
function isdirty(co::WriterCheckout)
    d = Ref{Bool}(false)
    check(L.hangar_writer_status(co, d, C_NULL))
    return d[]
end
commit_id(co::ReaderCheckout) = commit_buf((b, n) -> L.hangar_reader_commit(co, b, n))
commit_id(co::WriterCheckout) = commit_buf((b, n) -> L.hangar_writer_head(co, b, n))

metadata(co::ReaderCheckout, key::AbstractString) = take_buf(out_handle(o -> L.hangar_reader_metadata_get(co, key, o)))
metadata(co::WriterCheckout, key::AbstractString) = take_buf(out_handle(o -> L.hangar_writer_metadata_get(co, key, o)))
setmetadata!(co::WriterCheckout, key::AbstractString, value::AbstractString) =
    check(L.hangar_writer_metadata_set(co, key, value))

"""The repository summary as text (`at`: a branch or commit)."""
Base.summary(repo::Repository; at = nothing) = take_buf(out_handle(o -> L.hangar_repo_summary(repo, something(at, C_NULL), o)))
"""The commit log with its branch graph as text."""
commit_log(repo::Repository; start = nothing) = take_buf(out_handle(o -> L.hangar_repo_log(repo, something(start, C_NULL), o)))
"""The commit log as data, newest first: one named tuple per commit with `id`, `parents`
(full ids), `author`, `email`, `message`, `time_ns` (UTC) and `branch_heads`."""
function log_entries(repo::Repository; start = nothing)
    h = out_handle(o -> L.hangar_repo_log_entries(repo, something(start, C_NULL), o))
    try
        n = Ref{Csize_t}(0)
        check(L.hangar_log_len(h, n))
        out = NamedTuple[]
        for i in 0:n[]-1
            x = Ref{L.HangarCommitInfo}()
            check(L.hangar_log_get(h, i, x))
            v = x[]
            parents = String[]
            for j in 0:v.n_parents-1
                p = Ref{Ptr{Cvoid}}(C_NULL)
                check(L.hangar_log_parent(h, i, j, p))
                push!(parents, unsafe_string(Ptr{UInt8}(p[])))
            end
            heads = cstr(v.branch_heads)
            push!(out, (id = cstr(v.id), parents = parents, author = cstr(v.author),
                        email = cstr(v.email), message = cstr(v.message), time_ns = v.time_ns,
                        branch_heads = isempty(heads) ? String[] : String.(split(heads, ","))))
        end
        return out
    finally
        L.hangar_log_free(h)
    end
end
"""Bytes of every file of the repository's `.hangar` directory."""
function disk_usage(repo::Repository)
    x = Ref{UInt64}(0)
    check(L.hangar_repo_disk_usage(repo, x))
    return x[]
end
"""True while a writer checkout is open on the repository, in any process."""
function writer_lock_held(repo::Repository)
    x = Ref{Bool}(false)
    check(L.hangar_repo_writer_lock_held(repo, x))
    return x[]
end
"""Sets the memory budget (bytes) of the decoded pages of compressed columns the
repository and its checkouts keep (default 256 MiB or `HANGAR_PAGE_CACHE_MB`; 0 keeps none)."""
function set_page_cache_budget!(repo::Repository, bytes::Integer)
    check(L.hangar_repo_set_page_cache_budget(repo, UInt64(bytes)))
    return nothing
end
"""`(budget, used)`: the page cache's budget and the bytes of decoded pages it holds now."""
function page_cache_usage(repo::Repository)
    b = Ref{UInt64}(0)
    u = Ref{UInt64}(0)
    check(L.hangar_repo_page_cache_usage(repo, b, u))
    return (budget = b[], used = u[])
end
"""The on-disk format version the repository was written with."""
function format_version(repo::Repository)
    x = Ref{UInt32}(0)
    check(L.hangar_repo_format_version(repo, x))
    return x[]
end
"""`(ok, report)`: checks every commit and value against its digest."""
function verify(repo::Repository)
    ok = Ref{Bool}(false)
    report = Ref{Ptr{Cvoid}}(C_NULL)
    check(L.hangar_repo_verify(repo, ok, report))
    return ok[], take_buf(report[])
end
"""
    gc!(repo; prune = nothing, dry_run = false, compact_below = -1.0) -> (report, files)

Removes what no branch, remote-tracking ref, reflog entry younger than `prune` (`"now"`,
`"never"`, an age such as `"14d"`; default two weeks) and no staged change keeps
(`hangar gc`). `report` is a `LibHangar.HangarGcReport` (files and bytes removed,
rewritten, deferred, kept, and `reflog_only_commits`: the commits only young reflog
entries kept); `files` lists each file, one per line.
"""
function gc!(repo::Repository; prune = nothing, dry_run::Bool = false,
             compact_below::Real = -1.0)
    report = Ref{L.HangarGcReport}()
    files = Ref{Ptr{Cvoid}}(C_NULL)
    check(L.hangar_repo_gc(repo, something(prune, C_NULL), dry_run, Float64(compact_below),
                           report, files))
    return report[], take_buf(files[])
end

branches(repo::Repository) = take_list(out_handle(o -> L.hangar_repo_branches(repo, o)))
create_branch!(repo::Repository, name::AbstractString; base = nothing) =
    check(L.hangar_repo_create_branch(repo, name, something(base, C_NULL)))
remove_branch!(repo::Repository, name::AbstractString; force::Bool = false) =
    check(L.hangar_repo_remove_branch(repo, name, force))
branch_head(repo::Repository, name::AbstractString) =
    commit_buf((b, n) -> L.hangar_repo_branch_head(repo, name, b, n))
"""The diff from `a` to `b` (branches or commits) as text."""
diff_text(repo::Repository, a::AbstractString, b::AbstractString) =
    take_buf(out_handle(function (o)
        st = L.hangar_repo_diff(repo, a, b, o)
        st == L.HANGAR_OK || return st
        d = o[]
        try
            return L.hangar_diff_text(d, o)
        finally
            L.hangar_diff_free(d)
        end
    end))

const MERGE_KINDS = Dict(L.HANGAR_MERGE_UP_TO_DATE => :up_to_date,
                         L.HANGAR_MERGE_FAST_FORWARD => :fast_forward, L.HANGAR_MERGE_MERGED => :merged)

const MERGE_STRATEGIES = Dict(:refuse => L.HANGAR_MERGE_STRATEGY_REFUSE,
                              :ours => L.HANGAR_MERGE_STRATEGY_OURS,
                              :theirs => L.HANGAR_MERGE_STRATEGY_THEIRS)

"""    merge!(co::WriterCheckout, from; message="Merge branch 'from'", strategy=:refuse)

Merges branch `from` into the writer's branch: `(kind, head)` with kind `:up_to_date`,
`:fast_forward` or `:merged`. On conflicts, `strategy = :refuse` throws
`MergeConflictError` listing them; `:ours` or `:theirs` settles each by taking that side
(the sample, metadata value, whole nested sample or whole column) and merges the rest."""
function Base.merge!(co::WriterCheckout, from::AbstractString;
                     message::AbstractString = "Merge branch '$from'", strategy::Symbol = :refuse)
    code = get(MERGE_STRATEGIES, strategy, nothing)
    code === nothing && throw(ArgumentError("strategy must be :refuse, :ours or :theirs, not :$strategy"))
    kind = Ref{Int32}(0)
    head = commit_buf((b, n) -> L.hangar_writer_merge_with(co, message, from, code, kind, C_NULL, b, n))
    return MERGE_KINDS[kind[]], head
end

# ---- Remotes (docs/format.md, "Remotes"): URLs file:///dir or s3://bucket/prefix;
# credentials from the AWS environment variables and files.

"""    add_remote!(repo, name, url; endpoint=nothing, region=nothing)

Adds remote `name` at `url` (not contacted); `endpoint`/`region` for S3 servers other
than AWS."""
add_remote!(repo::Repository, name::AbstractString, url::AbstractString; endpoint = nothing, region = nothing) =
    check(L.hangar_repo_add_remote(repo, name, url, something(endpoint, C_NULL), something(region, C_NULL)))

"""Removes remote `name` (what was fetched from it stays)."""
remove_remote!(repo::Repository, name::AbstractString) = check(L.hangar_repo_remove_remote(repo, name))

"""The remotes, sorted by name, as `(name, url)` named tuples."""
function remotes(repo::Repository)
    n = Ref{Ptr{Cvoid}}(C_NULL)
    u = Ref{Ptr{Cvoid}}(C_NULL)
    check(L.hangar_repo_remotes(repo, n, u))
    names, urls = take_list(n[]), take_list(u[])
    return [(name = a, url = b) for (a, b) in zip(names, urls)]
end

function report_of(f)
    out = Ref{Ptr{Cvoid}}(C_NULL)
    check(f(out))
    return out[] == C_NULL ? "" : take_buf(out[])
end

"""    push_remote(repo, remote, branch) -> report

Uploads what `remote` lacks of `branch`, then moves its branch (`HANGAR_E_CONFLICT` when
the remote's branch has commits this one lacks: fetch and merge first)."""
push_remote(repo::Repository, remote::AbstractString, branch::AbstractString) =
    report_of(o -> L.hangar_repo_push(repo, remote, branch, o))

"""    fetch_remote(repo, remote; branch=nothing) -> report

Brings the history and record tables of `branch` (default: every branch) from `remote`;
`"remote/branch"` then names its head wherever a revision is taken."""
fetch_remote(repo::Repository, remote::AbstractString; branch = nothing) =
    report_of(o -> L.hangar_repo_fetch(repo, remote, something(branch, C_NULL), o))

"""    pull!(repo, remote, branch; message="merge") -> report

Fetches `branch` and merges `remote/branch` into the local branch of that name."""
pull!(repo::Repository, remote::AbstractString, branch::AbstractString; message::AbstractString = "merge") =
    report_of(o -> L.hangar_repo_pull(repo, remote, branch, message, o))

"""    fetch_data!(repo, remote, rev; columns=String[], range=nothing, max_bytes=0, history=false)

Fetches the values of revision `rev` not stored here: of `columns` only if given, of
integer keys in `range` (e.g. `0:999`) only if given, stopping before `max_bytes` (0: no
limit), of every ancestor commit too with `history`. Returns the report."""
function fetch_data!(repo::Repository, remote::AbstractString, rev::AbstractString;
                     columns = String[], range = nothing, max_bytes::Integer = 0, history::Bool = false)
    cols = String[String(c) for c in columns]
    ptrs = Ptr{Cvoid}[Ptr{Cvoid}(pointer(c)) for c in cols]
    lo, hi = range === nothing ? (0, 0) : (first(range), last(range) + 1)
    GC.@preserve cols ptrs begin
        arr = isempty(ptrs) ? Ptr{Ptr{Cvoid}}(C_NULL) : pointer(ptrs)
        return report_of(o -> L.hangar_repo_fetch_data(repo, remote, rev, arr, length(ptrs), UInt64(lo),
                                                        UInt64(hi), UInt64(max_bytes), history, o))
    end
end

"""    fetch_data_keys!(repo, remote, rev, column, keys; subsamples = [])

Fetches the values of exactly the samples `keys` of `column` at revision `rev` (every
subsample of a nested column's sample) and of the `(sample, subsample)` pairs
`subsamples`, those not stored here. Throws `HangarError` (`HANGAR_E_NOT_FOUND`), with
nothing fetched, when one is not in that column at `rev`. Returns the report."""
function fetch_data_keys!(repo::Repository, remote::AbstractString, rev::AbstractString,
                          column::AbstractString, keys::AbstractVector; subsamples::AbstractVector = [])
    keep = Any[]
    ks = L.HangarKey[ckey!(keep, k) for k in keys]
    samples = L.HangarKey[ckey!(keep, first(p)) for p in subsamples]
    subs = L.HangarKey[ckey!(keep, last(p)) for p in subsamples]
    GC.@preserve keep ks samples subs begin
        return report_of(o -> L.hangar_repo_fetch_data_keys(repo, remote, rev, column, ks, length(ks),
                                                             samples, subs, length(subs), o))
    end
end

"""    clone_repository(url, path; user_name, user_email, data=false, endpoint=nothing, region=nothing)

Clones the repository at `url` into `path` (remote `origin`): its history and record
tables, and every value of its history with `data=true`. Reading a value not fetched
throws `HangarError` with status `HANGAR_E_NOT_FETCHED`."""
clone_repository(url::AbstractString, path::AbstractString; user_name::AbstractString,
                 user_email::AbstractString, data::Bool = false, endpoint = nothing, region = nothing) =
    Repository(out_handle(o -> L.hangar_repo_clone(url, something(endpoint, C_NULL), something(region, C_NULL),
                                                   path, user_name, user_email, data, o)))

"""    open_remote(url, cache_dir; endpoint=nothing, region=nothing, cache_bytes=0)

The repository at `url` for reading without a clone: each value is fetched the first
time a checkout reads it and kept in a memory cache of `cache_bytes` (0: 1 GiB)."""
open_remote(url::AbstractString, cache_dir::AbstractString; endpoint = nothing, region = nothing,
            cache_bytes::Integer = 0) =
    Repository(out_handle(o -> L.hangar_repo_open_remote(url, something(endpoint, C_NULL), something(region, C_NULL),
                                                         cache_dir, UInt64(cache_bytes), o)))

"""For a repository from `open_remote`: `(hits, misses, bytes_fetched)`."""
function stream_stats(repo::Repository)
    h, m, b = Ref{UInt64}(0), Ref{UInt64}(0), Ref{UInt64}(0)
    check(L.hangar_repo_stream_stats(repo, h, m, b))
    return (hits = h[], misses = m[], bytes_fetched = b[])
end

"""Samples of `rev` (default: the branch head), of `column` if given, whose values are
not fetched here."""
function not_fetched(repo::Repository; rev = nothing, column = nothing)
    n = Ref{UInt64}(0)
    check(L.hangar_repo_not_fetched(repo, something(rev, C_NULL), something(column, C_NULL), n))
    return n[]
end

end # module
