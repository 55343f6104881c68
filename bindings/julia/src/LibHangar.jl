# Generated from hangar.h by bindings/julia/gen_lib.py; do not edit.
# One ccall per function of the C interface; documentation lives in hangar.h.
module LibHangar

using Libdl

# ccall finds the library by its soname. `__init__` runs where the package is loaded
# (not when it is precompiled): it loads $HANGAR_LIB (a path) when set, which ccall then
# finds by that soname; otherwise the system's search path supplies it.
const libhangar = "libhangar.so.0.1"

function __init__()
    path = get(ENV, "HANGAR_LIB", "")
    isempty(path) || Libdl.dlopen(path, Libdl.RTLD_GLOBAL)
    return nothing
end

const HANGAR_CHANGE_ADDED = 1
const HANGAR_CHANGE_DELETED = 2
const HANGAR_CHANGE_MUTATED = 3
const HANGAR_COMMIT_ID_LEN = 64
const HANGAR_CONFLICT_ADDED_IN_BOTH = 1
const HANGAR_CONFLICT_CHANGED_IN_BOTH = 4
const HANGAR_CONFLICT_CHANGED_OURS_DELETED_THEIRS = 3
const HANGAR_CONFLICT_DELETED_OURS_CHANGED_THEIRS = 2
const HANGAR_DTYPE_BOOL = 1
const HANGAR_DTYPE_F16 = 10
const HANGAR_DTYPE_F32 = 11
const HANGAR_DTYPE_F64 = 12
const HANGAR_DTYPE_I16 = 7
const HANGAR_DTYPE_I32 = 8
const HANGAR_DTYPE_I64 = 9
const HANGAR_DTYPE_I8 = 6
const HANGAR_DTYPE_U16 = 3
const HANGAR_DTYPE_U32 = 4
const HANGAR_DTYPE_U64 = 5
const HANGAR_DTYPE_U8 = 2
const HANGAR_E_ALREADY_EXISTS = -5
const HANGAR_E_BUFFER_TOO_SMALL = -15
const HANGAR_E_CLOSED = -12
const HANGAR_E_CONFLICT = -7
const HANGAR_E_CORRUPT = -9
const HANGAR_E_DIRTY_STAGING = -14
const HANGAR_E_INVALID_ARGUMENT = -2
const HANGAR_E_INVALID_UTF8 = -3
const HANGAR_E_IO = -11
const HANGAR_E_LOCKED = -6
const HANGAR_E_MERGE_CONFLICT = -8
const HANGAR_E_NOTHING_TO_COMMIT = -13
const HANGAR_E_NOT_FETCHED = -17
const HANGAR_E_NOT_FOUND = -4
const HANGAR_E_NULL_ARG = -1
const HANGAR_E_PANIC = -99
const HANGAR_E_REMOTE = -18
const HANGAR_E_UNSUPPORTED = -10
const HANGAR_E_WRONG_HANDLE = -16
const HANGAR_FORMAT_VERSION = 2
const HANGAR_KIND_BYTES = 3
const HANGAR_KIND_NDARRAY = 1
const HANGAR_KIND_STR = 2
const HANGAR_MERGE_FAST_FORWARD = 2
const HANGAR_MERGE_MERGED = 3
const HANGAR_MERGE_STRATEGY_OURS = 1
const HANGAR_MERGE_STRATEGY_REFUSE = 0
const HANGAR_MERGE_STRATEGY_THEIRS = 2
const HANGAR_MERGE_UP_TO_DATE = 1
const HANGAR_OK = 0
const HANGAR_SCOPE_COLUMN = 2
const HANGAR_SCOPE_METADATA = 3
const HANGAR_SCOPE_SAMPLE = 1
const HANGAR_VERSION_MAJOR = 0
const HANGAR_VERSION_MINOR = 1
const HANGAR_VERSION_PATCH = 0

struct HangarKey
    text::Cstring
    number::UInt64
end

struct HangarSampleInfo
    kind::Int32
    dtype::Int32
    ndim::Csize_t
    nbytes::Csize_t
end

struct HangarView
    data::Ptr{Cvoid}
    nbytes::Csize_t
    dtype::Int32
    ndim::Csize_t
    shape::Ptr{Csize_t}
end

struct HangarValue
    kind::Int32
    dtype::Int32
    data::Ptr{Cvoid}
    nbytes::Csize_t
    shape::Ptr{Csize_t}
    ndim::Csize_t
end

struct HangarDiffCounts
    columns_added::Csize_t
    columns_deleted::Csize_t
    schemas_changed::Csize_t
    samples_added::Csize_t
    samples_deleted::Csize_t
    samples_mutated::Csize_t
    metadata_changed::Csize_t
end

struct HangarDiffEntry
    change::Int32
    scope::Int32
    column::Cstring
    key::HangarKey
    has_subkey::Bool
    subkey::HangarKey
    metadata_key::Cstring
end

struct HangarConflict
    kind::Int32
    scope::Int32
    column::Cstring
    key::Cstring
    base::Cstring
    ours::Cstring
    theirs::Cstring
end

struct HangarGcReport
    dry_run::Bool
    files_removed::UInt64
    files_rewritten::UInt64
    bytes_removed::UInt64
    files_written::UInt64
    bytes_written::UInt64
    files_deferred::UInt64
    bytes_deferred::UInt64
    files_kept::UInt64
    live_entries::UInt64
    dead_entries::UInt64
    reflog_only_commits::UInt64
end

struct HangarCommitInfo
    id::Cstring
    n_parents::Csize_t
    author::Cstring
    email::Cstring
    message::Cstring
    time_ns::Int64
    branch_heads::Cstring
end

hangar_column_arrow_stream(column, out) = ccall((:hangar_column_arrow_stream, libhangar), Cint, (Ptr{Cvoid}, Ptr{Cvoid}), column, out)
hangar_reader_close(reader) = ccall((:hangar_reader_close, libhangar), Cint, (Ptr{Cvoid},), reader)
hangar_reader_free(reader) = ccall((:hangar_reader_free, libhangar), Cvoid, (Ptr{Cvoid},), reader)
hangar_reader_commit(reader, buf, len) = ccall((:hangar_reader_commit, libhangar), Cint, (Ptr{Cvoid}, Ptr{UInt8}, Csize_t), reader, buf, len)
hangar_reader_columns(reader, out) = ccall((:hangar_reader_columns, libhangar), Cint, (Ptr{Cvoid}, Ptr{Ptr{Cvoid}}), reader, out)
hangar_reader_column(reader, name, out) = ccall((:hangar_reader_column, libhangar), Cint, (Ptr{Cvoid}, Cstring, Ptr{Ptr{Cvoid}}), reader, name, out)
hangar_reader_metadata_get(reader, key, out) = ccall((:hangar_reader_metadata_get, libhangar), Cint, (Ptr{Cvoid}, Cstring, Ptr{Ptr{Cvoid}}), reader, key, out)
hangar_reader_metadata_keys(reader, out) = ccall((:hangar_reader_metadata_keys, libhangar), Cint, (Ptr{Cvoid}, Ptr{Ptr{Cvoid}}), reader, out)
hangar_writer_close(writer) = ccall((:hangar_writer_close, libhangar), Cint, (Ptr{Cvoid},), writer)
hangar_writer_free(writer) = ccall((:hangar_writer_free, libhangar), Cvoid, (Ptr{Cvoid},), writer)
hangar_writer_branch(writer, buf, len) = ccall((:hangar_writer_branch, libhangar), Cint, (Ptr{Cvoid}, Ptr{UInt8}, Csize_t), writer, buf, len)
hangar_writer_head(writer, buf, len) = ccall((:hangar_writer_head, libhangar), Cint, (Ptr{Cvoid}, Ptr{UInt8}, Csize_t), writer, buf, len)
hangar_writer_columns(writer, out) = ccall((:hangar_writer_columns, libhangar), Cint, (Ptr{Cvoid}, Ptr{Ptr{Cvoid}}), writer, out)
hangar_writer_column(writer, name, out) = ccall((:hangar_writer_column, libhangar), Cint, (Ptr{Cvoid}, Cstring, Ptr{Ptr{Cvoid}}), writer, name, out)
hangar_writer_add_ndarray_column(writer, name, spec, out) = ccall((:hangar_writer_add_ndarray_column, libhangar), Cint, (Ptr{Cvoid}, Cstring, Ptr{Cvoid}, Ptr{Ptr{Cvoid}}), writer, name, spec, out)
hangar_writer_add_text_column(writer, name, kind, nested, out) = ccall((:hangar_writer_add_text_column, libhangar), Cint, (Ptr{Cvoid}, Cstring, Int32, Bool, Ptr{Ptr{Cvoid}}), writer, name, kind, nested, out)
hangar_writer_add_text_column_compressed(writer, name, kind, nested, codec, out) = ccall((:hangar_writer_add_text_column_compressed, libhangar), Cint, (Ptr{Cvoid}, Cstring, Int32, Bool, Cstring, Ptr{Ptr{Cvoid}}), writer, name, kind, nested, codec, out)
hangar_writer_delete_column(writer, name) = ccall((:hangar_writer_delete_column, libhangar), Cint, (Ptr{Cvoid}, Cstring), writer, name)
hangar_writer_metadata_set(writer, key, value) = ccall((:hangar_writer_metadata_set, libhangar), Cint, (Ptr{Cvoid}, Cstring, Cstring), writer, key, value)
hangar_writer_metadata_get(writer, key, out) = ccall((:hangar_writer_metadata_get, libhangar), Cint, (Ptr{Cvoid}, Cstring, Ptr{Ptr{Cvoid}}), writer, key, out)
hangar_writer_metadata_delete(writer, key) = ccall((:hangar_writer_metadata_delete, libhangar), Cint, (Ptr{Cvoid}, Cstring), writer, key)
hangar_writer_metadata_keys(writer, out) = ccall((:hangar_writer_metadata_keys, libhangar), Cint, (Ptr{Cvoid}, Ptr{Ptr{Cvoid}}), writer, out)
hangar_writer_commit(writer, message, buf, len) = ccall((:hangar_writer_commit, libhangar), Cint, (Ptr{Cvoid}, Cstring, Ptr{UInt8}, Csize_t), writer, message, buf, len)
hangar_writer_bulk_begin(writer) = ccall((:hangar_writer_bulk_begin, libhangar), Cint, (Ptr{Cvoid},), writer)
hangar_writer_bulk_end(writer) = ccall((:hangar_writer_bulk_end, libhangar), Cint, (Ptr{Cvoid},), writer)
hangar_writer_status(writer, dirty, text_out_ptr) = ccall((:hangar_writer_status, libhangar), Cint, (Ptr{Cvoid}, Ptr{Bool}, Ptr{Ptr{Cvoid}}), writer, dirty, text_out_ptr)
hangar_writer_reset(writer) = ccall((:hangar_writer_reset, libhangar), Cint, (Ptr{Cvoid},), writer)
hangar_writer_diff_staged(writer, out) = ccall((:hangar_writer_diff_staged, libhangar), Cint, (Ptr{Cvoid}, Ptr{Ptr{Cvoid}}), writer, out)
hangar_writer_merge(writer, message, from, kind, head, len) = ccall((:hangar_writer_merge, libhangar), Cint, (Ptr{Cvoid}, Cstring, Cstring, Ptr{Int32}, Ptr{UInt8}, Csize_t), writer, message, from, kind, head, len)
hangar_writer_merge_with(writer, message, from, strategy, kind, resolved, head, len) = ccall((:hangar_writer_merge_with, libhangar), Cint, (Ptr{Cvoid}, Cstring, Cstring, Int32, Ptr{Int32}, Ptr{Csize_t}, Ptr{UInt8}, Csize_t), writer, message, from, strategy, kind, resolved, head, len)
hangar_repo_merge(repo, message, into, from, kind, head, len) = ccall((:hangar_repo_merge, libhangar), Cint, (Ptr{Cvoid}, Cstring, Cstring, Cstring, Ptr{Int32}, Ptr{UInt8}, Csize_t), repo, message, into, from, kind, head, len)
hangar_ndarray_spec_new(dtype_code, shape_ptr, ndim, out) = ccall((:hangar_ndarray_spec_new, libhangar), Cint, (Int32, Ptr{Csize_t}, Csize_t, Ptr{Ptr{Cvoid}}), dtype_code, shape_ptr, ndim, out)
hangar_ndarray_spec_prototype(spec, data, nbytes, dtype_code, shape_ptr, ndim) = ccall((:hangar_ndarray_spec_prototype, libhangar), Cint, (Ptr{Cvoid}, Ptr{Cvoid}, Csize_t, Int32, Ptr{Csize_t}, Csize_t), spec, data, nbytes, dtype_code, shape_ptr, ndim)
hangar_ndarray_spec_variable_shape(spec, variable) = ccall((:hangar_ndarray_spec_variable_shape, libhangar), Cint, (Ptr{Cvoid}, Bool), spec, variable)
hangar_ndarray_spec_contains_subsamples(spec, nested) = ccall((:hangar_ndarray_spec_contains_subsamples, libhangar), Cint, (Ptr{Cvoid}, Bool), spec, nested)
hangar_ndarray_spec_compression(spec, codec) = ccall((:hangar_ndarray_spec_compression, libhangar), Cint, (Ptr{Cvoid}, Cstring), spec, codec)
hangar_ndarray_spec_free(spec) = ccall((:hangar_ndarray_spec_free, libhangar), Cvoid, (Ptr{Cvoid},), spec)
hangar_column_free(column) = ccall((:hangar_column_free, libhangar), Cvoid, (Ptr{Cvoid},), column)
hangar_column_name(column, buf, len) = ccall((:hangar_column_name, libhangar), Cint, (Ptr{Cvoid}, Ptr{UInt8}, Csize_t), column, buf, len)
hangar_column_schema(column, kind, nested, variable_shape, dtype_out) = ccall((:hangar_column_schema, libhangar), Cint, (Ptr{Cvoid}, Ptr{Int32}, Ptr{Bool}, Ptr{Bool}, Ptr{Int32}), column, kind, nested, variable_shape, dtype_out)
hangar_column_compression(column, buf, len) = ccall((:hangar_column_compression, libhangar), Cint, (Ptr{Cvoid}, Ptr{UInt8}, Csize_t), column, buf, len)
hangar_column_shape(column, shape_out, cap, ndim) = ccall((:hangar_column_shape, libhangar), Cint, (Ptr{Cvoid}, Ptr{Csize_t}, Csize_t, Ptr{Csize_t}), column, shape_out, cap, ndim)
hangar_column_len(column, out) = ccall((:hangar_column_len, libhangar), Cint, (Ptr{Cvoid}, Ptr{Csize_t}), column, out)
hangar_column_num_subsamples(column, out) = ccall((:hangar_column_num_subsamples, libhangar), Cint, (Ptr{Cvoid}, Ptr{Csize_t}), column, out)
hangar_column_contains(column, sample, subkey, out) = ccall((:hangar_column_contains, libhangar), Cint, (Ptr{Cvoid}, HangarKey, Ptr{HangarKey}, Ptr{Bool}), column, sample, subkey, out)
hangar_column_info(column, sample, subkey, info, shape_out, cap) = ccall((:hangar_column_info, libhangar), Cint, (Ptr{Cvoid}, HangarKey, Ptr{HangarKey}, Ptr{HangarSampleInfo}, Ptr{Csize_t}, Csize_t), column, sample, subkey, info, shape_out, cap)
hangar_column_get(column, sample, subkey, buf, len, written) = ccall((:hangar_column_get, libhangar), Cint, (Ptr{Cvoid}, HangarKey, Ptr{HangarKey}, Ptr{Cvoid}, Csize_t, Ptr{Csize_t}), column, sample, subkey, buf, len, written)
hangar_column_get_buf(column, sample, subkey, out) = ccall((:hangar_column_get_buf, libhangar), Cint, (Ptr{Cvoid}, HangarKey, Ptr{HangarKey}, Ptr{Ptr{Cvoid}}), column, sample, subkey, out)
hangar_column_view(column, sample, subkey, out) = ccall((:hangar_column_view, libhangar), Cint, (Ptr{Cvoid}, HangarKey, Ptr{HangarKey}, Ptr{HangarView}), column, sample, subkey, out)
hangar_column_get_batch(column, keys, n, buf, len) = ccall((:hangar_column_get_batch, libhangar), Cint, (Ptr{Cvoid}, Ptr{HangarKey}, Csize_t, Ptr{Cvoid}, Csize_t), column, keys, n, buf, len)
hangar_column_keys(column, out) = ccall((:hangar_column_keys, libhangar), Cint, (Ptr{Cvoid}, Ptr{Ptr{Cvoid}}), column, out)
hangar_column_subkeys(column, sample, out) = ccall((:hangar_column_subkeys, libhangar), Cint, (Ptr{Cvoid}, HangarKey, Ptr{Ptr{Cvoid}}), column, sample, out)
hangar_key_iter_len(iter, out) = ccall((:hangar_key_iter_len, libhangar), Cint, (Ptr{Cvoid}, Ptr{Csize_t}), iter, out)
hangar_key_iter_next(iter, key_out, has_key) = ccall((:hangar_key_iter_next, libhangar), Cint, (Ptr{Cvoid}, Ptr{HangarKey}, Ptr{Bool}), iter, key_out, has_key)
hangar_key_iter_next_batch(iter, keys, cap, n) = ccall((:hangar_key_iter_next_batch, libhangar), Cint, (Ptr{Cvoid}, Ptr{HangarKey}, Csize_t, Ptr{Csize_t}), iter, keys, cap, n)
hangar_key_iter_free(iter) = ccall((:hangar_key_iter_free, libhangar), Cvoid, (Ptr{Cvoid},), iter)
hangar_column_put(column, sample, subkey, data, nbytes, dtype_code, shape_ptr, ndim) = ccall((:hangar_column_put, libhangar), Cint, (Ptr{Cvoid}, HangarKey, Ptr{HangarKey}, Ptr{Cvoid}, Csize_t, Int32, Ptr{Csize_t}, Csize_t), column, sample, subkey, data, nbytes, dtype_code, shape_ptr, ndim)
hangar_column_put_text(column, sample, subkey, data, len) = ccall((:hangar_column_put_text, libhangar), Cint, (Ptr{Cvoid}, HangarKey, Ptr{HangarKey}, Ptr{Cvoid}, Csize_t), column, sample, subkey, data, len)
hangar_column_delete(column, sample, subkey) = ccall((:hangar_column_delete, libhangar), Cint, (Ptr{Cvoid}, HangarKey, Ptr{HangarKey}), column, sample, subkey)
hangar_column_put_batch(column, keys, n, data, nbytes, dtype_code, sample_shape, ndim) = ccall((:hangar_column_put_batch, libhangar), Cint, (Ptr{Cvoid}, Ptr{HangarKey}, Csize_t, Ptr{Cvoid}, Csize_t, Int32, Ptr{Csize_t}, Csize_t), column, keys, n, data, nbytes, dtype_code, sample_shape, ndim)
hangar_column_update(column, keys, subkeys, values, n) = ccall((:hangar_column_update, libhangar), Cint, (Ptr{Cvoid}, Ptr{HangarKey}, Ptr{HangarKey}, Ptr{HangarValue}, Csize_t), column, keys, subkeys, values, n)
hangar_column_append(column, sample, value, key_out) = ccall((:hangar_column_append, libhangar), Cint, (Ptr{Cvoid}, Ptr{HangarKey}, Ptr{HangarValue}, Ptr{Ptr{Cvoid}}), column, sample, value, key_out)
hangar_column_pop(column, sample, subkey, info, shape_out, cap, value_out) = ccall((:hangar_column_pop, libhangar), Cint, (Ptr{Cvoid}, HangarKey, Ptr{HangarKey}, Ptr{HangarSampleInfo}, Ptr{Csize_t}, Csize_t, Ptr{Ptr{Cvoid}}), column, sample, subkey, info, shape_out, cap, value_out)
hangar_repo_diff(repo, a, b, out) = ccall((:hangar_repo_diff, libhangar), Cint, (Ptr{Cvoid}, Cstring, Cstring, Ptr{Ptr{Cvoid}}), repo, a, b, out)
hangar_diff_get_counts(diff, out) = ccall((:hangar_diff_get_counts, libhangar), Cint, (Ptr{Cvoid}, Ptr{HangarDiffCounts}), diff, out)
hangar_diff_len(diff, out) = ccall((:hangar_diff_len, libhangar), Cint, (Ptr{Cvoid}, Ptr{Csize_t}), diff, out)
hangar_diff_get_entry(diff, index, out) = ccall((:hangar_diff_get_entry, libhangar), Cint, (Ptr{Cvoid}, Csize_t, Ptr{HangarDiffEntry}), diff, index, out)
hangar_diff_text(diff, out) = ccall((:hangar_diff_text, libhangar), Cint, (Ptr{Cvoid}, Ptr{Ptr{Cvoid}}), diff, out)
hangar_diff_free(diff) = ccall((:hangar_diff_free, libhangar), Cvoid, (Ptr{Cvoid},), diff)
hangar_repo_merge_conflicts(repo, into, from, out) = ccall((:hangar_repo_merge_conflicts, libhangar), Cint, (Ptr{Cvoid}, Cstring, Cstring, Ptr{Ptr{Cvoid}}), repo, into, from, out)
hangar_conflicts_len(conflicts, out) = ccall((:hangar_conflicts_len, libhangar), Cint, (Ptr{Cvoid}, Ptr{Csize_t}), conflicts, out)
hangar_conflicts_get(conflicts, index, out) = ccall((:hangar_conflicts_get, libhangar), Cint, (Ptr{Cvoid}, Csize_t, Ptr{HangarConflict}), conflicts, index, out)
hangar_conflicts_text(conflicts, out) = ccall((:hangar_conflicts_text, libhangar), Cint, (Ptr{Cvoid}, Ptr{Ptr{Cvoid}}), conflicts, out)
hangar_conflicts_free(conflicts) = ccall((:hangar_conflicts_free, libhangar), Cvoid, (Ptr{Cvoid},), conflicts)
hangar_repo_gc(repo, prune, dry_run, compact_below, out, files) = ccall((:hangar_repo_gc, libhangar), Cint, (Ptr{Cvoid}, Cstring, Bool, Cdouble, Ptr{HangarGcReport}, Ptr{Ptr{Cvoid}}), repo, prune, dry_run, compact_below, out, files)
hangar_repo_log_entries(repo, start, out) = ccall((:hangar_repo_log_entries, libhangar), Cint, (Ptr{Cvoid}, Cstring, Ptr{Ptr{Cvoid}}), repo, start, out)
hangar_log_len(log, out) = ccall((:hangar_log_len, libhangar), Cint, (Ptr{Cvoid}, Ptr{Csize_t}), log, out)
hangar_log_get(log, index, out) = ccall((:hangar_log_get, libhangar), Cint, (Ptr{Cvoid}, Csize_t, Ptr{HangarCommitInfo}), log, index, out)
hangar_log_parent(log, index, parent, out) = ccall((:hangar_log_parent, libhangar), Cint, (Ptr{Cvoid}, Csize_t, Csize_t, Ptr{Ptr{Cvoid}}), log, index, parent, out)
hangar_log_free(log) = ccall((:hangar_log_free, libhangar), Cvoid, (Ptr{Cvoid},), log)
hangar_repo_disk_usage(repo, out) = ccall((:hangar_repo_disk_usage, libhangar), Cint, (Ptr{Cvoid}, Ptr{UInt64}), repo, out)
hangar_repo_format_version(repo, out) = ccall((:hangar_repo_format_version, libhangar), Cint, (Ptr{Cvoid}, Ptr{UInt32}), repo, out)
hangar_repo_add_remote(repo, name, url, endpoint, region) = ccall((:hangar_repo_add_remote, libhangar), Cint, (Ptr{Cvoid}, Cstring, Cstring, Cstring, Cstring), repo, name, url, endpoint, region)
hangar_repo_remove_remote(repo, name) = ccall((:hangar_repo_remove_remote, libhangar), Cint, (Ptr{Cvoid}, Cstring), repo, name)
hangar_repo_push(repo, remote, branch, report) = ccall((:hangar_repo_push, libhangar), Cint, (Ptr{Cvoid}, Cstring, Cstring, Ptr{Ptr{Cvoid}}), repo, remote, branch, report)
hangar_repo_fetch(repo, remote, branch, report) = ccall((:hangar_repo_fetch, libhangar), Cint, (Ptr{Cvoid}, Cstring, Cstring, Ptr{Ptr{Cvoid}}), repo, remote, branch, report)
hangar_repo_pull(repo, remote, branch, message, report) = ccall((:hangar_repo_pull, libhangar), Cint, (Ptr{Cvoid}, Cstring, Cstring, Cstring, Ptr{Ptr{Cvoid}}), repo, remote, branch, message, report)
hangar_repo_fetch_data(repo, remote, rev, columns, n_columns, range_start, range_end, max_bytes, history, report) = ccall((:hangar_repo_fetch_data, libhangar), Cint, (Ptr{Cvoid}, Cstring, Cstring, Ptr{Ptr{Cvoid}}, Csize_t, UInt64, UInt64, UInt64, Bool, Ptr{Ptr{Cvoid}}), repo, remote, rev, columns, n_columns, range_start, range_end, max_bytes, history, report)
hangar_repo_fetch_data_keys(repo, remote, rev, column, keys, n_keys, sub_samples, subsamples, n_subsamples, report) = ccall((:hangar_repo_fetch_data_keys, libhangar), Cint, (Ptr{Cvoid}, Cstring, Cstring, Cstring, Ptr{HangarKey}, Csize_t, Ptr{HangarKey}, Ptr{HangarKey}, Csize_t, Ptr{Ptr{Cvoid}}), repo, remote, rev, column, keys, n_keys, sub_samples, subsamples, n_subsamples, report)
hangar_repo_remotes(repo, names, urls) = ccall((:hangar_repo_remotes, libhangar), Cint, (Ptr{Cvoid}, Ptr{Ptr{Cvoid}}, Ptr{Ptr{Cvoid}}), repo, names, urls)
hangar_repo_clone(url, endpoint, region, path, user_name, user_email, data, out) = ccall((:hangar_repo_clone, libhangar), Cint, (Cstring, Cstring, Cstring, Cstring, Cstring, Cstring, Bool, Ptr{Ptr{Cvoid}}), url, endpoint, region, path, user_name, user_email, data, out)
hangar_repo_open_remote(url, endpoint, region, cache_dir, cache_bytes, out) = ccall((:hangar_repo_open_remote, libhangar), Cint, (Cstring, Cstring, Cstring, Cstring, UInt64, Ptr{Ptr{Cvoid}}), url, endpoint, region, cache_dir, cache_bytes, out)
hangar_repo_open_remote_cache(cache_dir, cache_bytes, out) = ccall((:hangar_repo_open_remote_cache, libhangar), Cint, (Cstring, UInt64, Ptr{Ptr{Cvoid}}), cache_dir, cache_bytes, out)
hangar_repo_stream_stats(repo, hits, misses, bytes_fetched) = ccall((:hangar_repo_stream_stats, libhangar), Cint, (Ptr{Cvoid}, Ptr{UInt64}, Ptr{UInt64}, Ptr{UInt64}), repo, hits, misses, bytes_fetched)
hangar_repo_not_fetched(repo, rev, column, count) = ccall((:hangar_repo_not_fetched, libhangar), Cint, (Ptr{Cvoid}, Cstring, Cstring, Ptr{UInt64}), repo, rev, column, count)
hangar_repo_init(path, user_name, user_email, remove_old, out) = ccall((:hangar_repo_init, libhangar), Cint, (Cstring, Cstring, Cstring, Bool, Ptr{Ptr{Cvoid}}), path, user_name, user_email, remove_old, out)
hangar_repo_open(path, out) = ccall((:hangar_repo_open, libhangar), Cint, (Cstring, Ptr{Ptr{Cvoid}}), path, out)
hangar_repo_free(repo) = ccall((:hangar_repo_free, libhangar), Cvoid, (Ptr{Cvoid},), repo)
hangar_repo_force_release_writer_lock(repo, released) = ccall((:hangar_repo_force_release_writer_lock, libhangar), Cint, (Ptr{Cvoid}, Ptr{Bool}), repo, released)
hangar_repo_writer_lock_held(repo, held) = ccall((:hangar_repo_writer_lock_held, libhangar), Cint, (Ptr{Cvoid}, Ptr{Bool}), repo, held)
hangar_repo_summary(repo, at, out) = ccall((:hangar_repo_summary, libhangar), Cint, (Ptr{Cvoid}, Cstring, Ptr{Ptr{Cvoid}}), repo, at, out)
hangar_repo_log(repo, start, out) = ccall((:hangar_repo_log, libhangar), Cint, (Ptr{Cvoid}, Cstring, Ptr{Ptr{Cvoid}}), repo, start, out)
hangar_repo_verify(repo, ok, report) = ccall((:hangar_repo_verify, libhangar), Cint, (Ptr{Cvoid}, Ptr{Bool}, Ptr{Ptr{Cvoid}}), repo, ok, report)
hangar_repo_resolve(repo, rev, buf, len) = ccall((:hangar_repo_resolve, libhangar), Cint, (Ptr{Cvoid}, Cstring, Ptr{UInt8}, Csize_t), repo, rev, buf, len)
hangar_repo_checkout(repo, branch, out) = ccall((:hangar_repo_checkout, libhangar), Cint, (Ptr{Cvoid}, Cstring, Ptr{Ptr{Cvoid}}), repo, branch, out)
hangar_repo_checkout_commit(repo, commit, out) = ccall((:hangar_repo_checkout_commit, libhangar), Cint, (Ptr{Cvoid}, Cstring, Ptr{Ptr{Cvoid}}), repo, commit, out)
hangar_repo_checkout_writer(repo, branch, out) = ccall((:hangar_repo_checkout_writer, libhangar), Cint, (Ptr{Cvoid}, Cstring, Ptr{Ptr{Cvoid}}), repo, branch, out)
hangar_repo_switch_writer_branch(repo, branch, out) = ccall((:hangar_repo_switch_writer_branch, libhangar), Cint, (Ptr{Cvoid}, Cstring, Ptr{Ptr{Cvoid}}), repo, branch, out)
hangar_repo_checkout_writer_new_branch(repo, name, start, out) = ccall((:hangar_repo_checkout_writer_new_branch, libhangar), Cint, (Ptr{Cvoid}, Cstring, Cstring, Ptr{Ptr{Cvoid}}), repo, name, start, out)
hangar_repo_create_branch(repo, name, base) = ccall((:hangar_repo_create_branch, libhangar), Cint, (Ptr{Cvoid}, Cstring, Cstring), repo, name, base)
hangar_repo_branches(repo, out) = ccall((:hangar_repo_branches, libhangar), Cint, (Ptr{Cvoid}, Ptr{Ptr{Cvoid}}), repo, out)
hangar_repo_branch_head(repo, branch, buf, len) = ccall((:hangar_repo_branch_head, libhangar), Cint, (Ptr{Cvoid}, Cstring, Ptr{UInt8}, Csize_t), repo, branch, buf, len)
hangar_repo_remove_branch(repo, name, force) = ccall((:hangar_repo_remove_branch, libhangar), Cint, (Ptr{Cvoid}, Cstring, Bool), repo, name, force)
hangar_repo_set_page_cache_budget(repo, bytes) = ccall((:hangar_repo_set_page_cache_budget, libhangar), Cint, (Ptr{Cvoid}, UInt64), repo, bytes)
hangar_repo_page_cache_usage(repo, budget, used) = ccall((:hangar_repo_page_cache_usage, libhangar), Cint, (Ptr{Cvoid}, Ptr{UInt64}, Ptr{UInt64}), repo, budget, used)
hangar_status_name(status) = ccall((:hangar_status_name, libhangar), Ptr{UInt8}, (Cint,), status)
hangar_buf_data(buf) = ccall((:hangar_buf_data, libhangar), Ptr{UInt8}, (Ptr{Cvoid},), buf)
hangar_buf_len(buf) = ccall((:hangar_buf_len, libhangar), Csize_t, (Ptr{Cvoid},), buf)
hangar_buf_free(buf) = ccall((:hangar_buf_free, libhangar), Cvoid, (Ptr{Cvoid},), buf)
hangar_strlist_len(list) = ccall((:hangar_strlist_len, libhangar), Csize_t, (Ptr{Cvoid},), list)
hangar_strlist_get(list, index) = ccall((:hangar_strlist_get, libhangar), Ptr{UInt8}, (Ptr{Cvoid}, Csize_t), list, index)
hangar_strlist_free(list) = ccall((:hangar_strlist_free, libhangar), Cvoid, (Ptr{Cvoid},), list)
hangar_version() = ccall((:hangar_version, libhangar), Ptr{UInt8}, ())
hangar_last_error_status() = ccall((:hangar_last_error_status, libhangar), Cint, ())
hangar_last_error_message(buf, len, needed) = ccall((:hangar_last_error_message, libhangar), Cint, (Ptr{UInt8}, Csize_t, Ptr{Csize_t}), buf, len, needed)
hangar_last_error_conflicts(out) = ccall((:hangar_last_error_conflicts, libhangar), Cint, (Ptr{Ptr{Cvoid}},), out)

end # module
