// hangar.hpp: a header-only C++17 layer over libhangar's C interface (hangar.h).
//
// One move-only RAII class per handle (a std::unique_ptr with the matching _free as its
// deleter); every failing call throws hangar::Error carrying the status and message
// (hangar::MergeConflict adds the conflict report); zero-copy reads as hangar::View<T>;
// range-for over a column's keys. Thread safety and lifetimes are those of hangar.h.
//
//   auto repo = hangar::Repository::init("data", "Ada", "ada@example.com");
//   auto co = repo.checkout_writer();
//   auto images = co.add_ndarray_column<uint8_t>("images", {28, 28});
//   images.put(0, pixels.data(), {28, 28});
//   co.commit("first commit");
#ifndef HANGAR_HPP
#define HANGAR_HPP

#include <hangar.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace hangar {

/// A failed libhangar call: the HANGAR_E_* status and the library's message.
class Error : public std::runtime_error {
  public:
    Error(hangar_status status, const std::string &message)
        : std::runtime_error(std::string(hangar_status_name(status)) + ": " + message), status_(status) {}
    hangar_status status() const noexcept { return status_; }

  private:
    hangar_status status_;
};

/// One merge conflict (see hangar_conflict); strings are copied.
struct Conflict {
    int32_t kind;
    int32_t scope;
    std::string column;
    std::string key;
    std::optional<std::string> base, ours, theirs;
};

/// One commit of `Repository::log_entries()`.
struct CommitInfo {
    std::string id;                    ///< 64 hex digits
    std::vector<std::string> parents;  ///< full ids; none for a first commit, two for a merge
    std::string author, email, message;
    int64_t time_ns;                   ///< nanoseconds since the Unix epoch, UTC
    std::vector<std::string> branch_heads;  ///< branches whose head this commit is
};

/// A merge refused for conflicts; conflicts() holds the full report.
class MergeConflict : public Error {
  public:
    MergeConflict(hangar_status status, const std::string &message, std::vector<Conflict> conflicts)
        : Error(status, message), conflicts_(std::move(conflicts)) {}
    const std::vector<Conflict> &conflicts() const noexcept { return conflicts_; }

  private:
    std::vector<Conflict> conflicts_;
};

namespace detail {

template <typename T, void (*Free)(T *)>
struct Deleter {
    void operator()(T *p) const noexcept { Free(p); }
};
template <typename T, void (*Free)(T *)>
using Owned = std::unique_ptr<T, Deleter<T, Free>>;

inline std::string last_message() {
    size_t need = 0;
    hangar_last_error_message(nullptr, 0, &need);
    std::string msg(need, '\0');
    if (need > 0) hangar_last_error_message(msg.data(), msg.size(), nullptr);
    if (!msg.empty()) msg.pop_back();  // the NUL
    return msg;
}

inline std::vector<Conflict> read_conflicts(const hangar_conflicts *c);

inline void check(hangar_status st) {
    if (st == HANGAR_OK) return;
    std::string msg = last_message();
    if (st == HANGAR_E_MERGE_CONFLICT) {
        hangar_conflicts *c = nullptr;
        if (hangar_last_error_conflicts(&c) == HANGAR_OK) {
            Owned<hangar_conflicts, hangar_conflicts_free> owned(c);
            throw MergeConflict(st, msg, read_conflicts(c));
        }
    }
    throw Error(st, msg);
}

inline std::string take(hangar_buf *b) {
    Owned<hangar_buf, hangar_buf_free> owned(b);
    return std::string(reinterpret_cast<const char *>(hangar_buf_data(b)), hangar_buf_len(b));
}

inline std::vector<std::string> take(hangar_strlist *l) {
    Owned<hangar_strlist, hangar_strlist_free> owned(l);
    std::vector<std::string> out;
    for (size_t i = 0, n = hangar_strlist_len(l); i < n; i++) out.emplace_back(hangar_strlist_get(l, i));
    return out;
}

inline std::optional<std::string> opt(const char *s) {
    return s ? std::optional<std::string>(s) : std::nullopt;
}

inline std::vector<Conflict> read_conflicts(const hangar_conflicts *c) {
    size_t n = 0;
    check(hangar_conflicts_len(c, &n));
    std::vector<Conflict> out;
    for (size_t i = 0; i < n; i++) {
        hangar_conflict x;
        check(hangar_conflicts_get(c, i, &x));
        out.push_back({x.kind, x.scope, x.column ? x.column : "", x.key ? x.key : "", opt(x.base),
                       opt(x.ours), opt(x.theirs)});
    }
    return out;
}

inline const char *c_str_or_null(const std::optional<std::string> &s) { return s ? s->c_str() : nullptr; }

}  // namespace detail

/// The HANGAR_DTYPE_* code of a C++ element type.
template <typename T>
constexpr int32_t dtype_of() {
    if constexpr (std::is_same_v<T, bool>) return HANGAR_DTYPE_BOOL;
    else if constexpr (std::is_same_v<T, uint8_t>) return HANGAR_DTYPE_U8;
    else if constexpr (std::is_same_v<T, uint16_t>) return HANGAR_DTYPE_U16;
    else if constexpr (std::is_same_v<T, uint32_t>) return HANGAR_DTYPE_U32;
    else if constexpr (std::is_same_v<T, uint64_t>) return HANGAR_DTYPE_U64;
    else if constexpr (std::is_same_v<T, int8_t>) return HANGAR_DTYPE_I8;
    else if constexpr (std::is_same_v<T, int16_t>) return HANGAR_DTYPE_I16;
    else if constexpr (std::is_same_v<T, int32_t>) return HANGAR_DTYPE_I32;
    else if constexpr (std::is_same_v<T, int64_t>) return HANGAR_DTYPE_I64;
    else if constexpr (std::is_same_v<T, float>) return HANGAR_DTYPE_F32;
    else if constexpr (std::is_same_v<T, double>) return HANGAR_DTYPE_F64;
    else static_assert(sizeof(T) == 0, "no hangar dtype for this C++ type");
}

/// A sample key: an unsigned integer or a string (5 and "5" are different keys).
class Key {
  public:
    /// Any integer type (bool and character types excepted); a negative value throws
    /// `hangar::Error` with `HANGAR_E_INVALID_ARGUMENT`.
    template <typename I,
              std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool> && !std::is_same_v<I, char> &&
                                   !std::is_same_v<I, wchar_t> && !std::is_same_v<I, char16_t> &&
                                   !std::is_same_v<I, char32_t>,
                               int> = 0>
    Key(I n) : v_(static_cast<uint64_t>(n)) {  // NOLINT: implicit by design
        if constexpr (std::is_signed_v<I>) {
            if (n < 0) throw Error(HANGAR_E_INVALID_ARGUMENT, "sample keys are non-negative");
        }
    }
    Key(std::string s) : v_(std::move(s)) {}          // NOLINT
    Key(const char *s) : v_(std::string(s)) {}        // NOLINT
    bool is_int() const noexcept { return v_.index() == 0; }
    uint64_t number() const { return std::get<0>(v_); }
    const std::string &text() const { return std::get<1>(v_); }
    /// The C form; borrows this Key's string.
    hangar_key c() const noexcept {
        return is_int() ? hangar_key{nullptr, std::get<0>(v_)} : hangar_key{std::get<1>(v_).c_str(), 0};
    }
    static Key from_c(const hangar_key &k) { return k.text ? Key(std::string(k.text)) : Key(k.number); }
    bool operator==(const Key &o) const { return v_ == o.v_; }
    bool operator!=(const Key &o) const { return !(*this == o); }

  private:
    std::variant<uint64_t, std::string> v_;
};

/// A borrowed, zero-copy array of T (a span with a shape), valid while its reader is open.
template <typename T>
class View {
  public:
    View(const T *data, size_t size, std::vector<size_t> shape) : data_(data), size_(size), shape_(std::move(shape)) {}
    const T *data() const noexcept { return data_; }
    size_t size() const noexcept { return size_; }
    const std::vector<size_t> &shape() const noexcept { return shape_; }
    const T &operator[](size_t i) const noexcept { return data_[i]; }
    const T *begin() const noexcept { return data_; }
    const T *end() const noexcept { return data_ + size_; }

  private:
    const T *data_;
    size_t size_;
    std::vector<size_t> shape_;
};

/// An owned array: elements in C order and the shape.
template <typename T>
struct Array {
    std::vector<T> data;
    std::vector<size_t> shape;
};

/// Iterates a snapshot of keys: `for (const hangar::Key &k : column.keys())`.
class KeyRange {
  public:
    explicit KeyRange(hangar_key_iter *it) : it_(it) {}
    size_t size() const {
        size_t n = 0;
        detail::check(hangar_key_iter_len(it_.get(), &n));
        return n;
    }
    class iterator {
      public:
        using value_type = Key;
        using difference_type = std::ptrdiff_t;
        using reference = const Key &;
        using pointer = const Key *;
        using iterator_category = std::input_iterator_tag;
        iterator() = default;
        explicit iterator(hangar_key_iter *it) : it_(it) { advance(); }
        reference operator*() const { return *cur_; }
        pointer operator->() const { return &*cur_; }
        iterator &operator++() {
            advance();
            return *this;
        }
        bool operator==(const iterator &o) const { return done() == o.done(); }
        bool operator!=(const iterator &o) const { return !(*this == o); }

      private:
        bool done() const { return !cur_.has_value(); }
        void advance() {
            // Keys come 64 to a call (hangar_key_iter_next_batch), copied out of the
            // batch before the next call invalidates its texts.
            if (at_ == batch_.size()) {
                hangar_key keys[64];
                size_t n = 0;
                detail::check(hangar_key_iter_next_batch(it_, keys, 64, &n));
                batch_.clear();
                for (size_t i = 0; i < n; i++) batch_.push_back(Key::from_c(keys[i]));
                at_ = 0;
            }
            if (at_ < batch_.size()) cur_ = std::move(batch_[at_++]);
            else cur_.reset();
        }
        hangar_key_iter *it_ = nullptr;
        std::vector<Key> batch_;
        size_t at_ = 0;
        std::optional<Key> cur_;
    };
    iterator begin() { return iterator(it_.get()); }
    iterator end() { return iterator(); }

  private:
    detail::Owned<hangar_key_iter, hangar_key_iter_free> it_;
};

/// What one sample is (hangar_sample_info plus its shape).
struct SampleInfo {
    int32_t kind;
    int32_t dtype;
    std::vector<size_t> shape;
    size_t nbytes;
};

/// A column of a reader or writer checkout.
class Column {
  public:
    explicit Column(hangar_column *c) : c_(c) {}
    const hangar_column *handle() const noexcept { return c_.get(); }

    std::string name() const {
        char buf[512];
        detail::check(hangar_column_name(c_.get(), buf, sizeof buf));
        return buf;
    }
    int32_t kind() const {
        int32_t k = 0;
        detail::check(hangar_column_schema(c_.get(), &k, nullptr, nullptr, nullptr));
        return k;
    }
    int32_t dtype() const {
        int32_t d = 0;
        detail::check(hangar_column_schema(c_.get(), nullptr, nullptr, nullptr, &d));
        return d;
    }
    bool nested() const {
        bool n = false;
        detail::check(hangar_column_schema(c_.get(), nullptr, &n, nullptr, nullptr));
        return n;
    }
    /// "none", "zstd:<level>" or "lz4".
    std::string compression() const {
        char buf[32];
        detail::check(hangar_column_compression(c_.get(), buf, sizeof buf));
        return buf;
    }
    std::vector<size_t> shape() const {
        size_t ndim = 0;
        detail::check(hangar_column_shape(c_.get(), nullptr, 0, &ndim));
        std::vector<size_t> s(ndim);
        detail::check(hangar_column_shape(c_.get(), s.data(), s.size(), &ndim));
        return s;
    }
    size_t size() const {
        size_t n = 0;
        detail::check(hangar_column_len(c_.get(), &n));
        return n;
    }
    size_t num_subsamples() const {
        size_t n = 0;
        detail::check(hangar_column_num_subsamples(c_.get(), &n));
        return n;
    }
    bool contains(const Key &k, const std::optional<Key> &sub = std::nullopt) const {
        bool b = false;
        hangar_key s = sub ? sub->c() : hangar_key{};
        detail::check(hangar_column_contains(c_.get(), k.c(), sub ? &s : nullptr, &b));
        return b;
    }

    /// Stores an array of `shape` from `data` (C order) under `k` (subsample `sub`).
    template <typename T>
    void put(const Key &k, const T *data, const std::vector<size_t> &shape, const std::optional<Key> &sub = std::nullopt) {
        size_t n = 1;
        for (size_t d : shape) n *= d;
        hangar_key s = sub ? sub->c() : hangar_key{};
        detail::check(hangar_column_put(c_.get(), k.c(), sub ? &s : nullptr, data, n * sizeof(T), dtype_of<T>(),
                                        shape.data(), shape.size()));
    }
    template <typename T>
    void put(const Key &k, const std::vector<T> &data, const std::vector<size_t> &shape,
             const std::optional<Key> &sub = std::nullopt) {
        size_t n = 1;
        for (size_t d : shape) n *= d;
        if (n != data.size()) throw Error(HANGAR_E_INVALID_ARGUMENT, "the vector's size disagrees with the shape");
        put(k, data.data(), shape, sub);
    }
    /// Stores text (str columns) or bytes (bytes columns).
    void put_text(const Key &k, std::string_view text, const std::optional<Key> &sub = std::nullopt) {
        hangar_key s = sub ? sub->c() : hangar_key{};
        detail::check(hangar_column_put_text(c_.get(), k.c(), sub ? &s : nullptr, text.data(), text.size()));
    }
    /// Stores `keys.size()` arrays of `sample_shape` from one contiguous buffer.
    template <typename T>
    void put_batch(const std::vector<Key> &keys, const T *data, const std::vector<size_t> &sample_shape) {
        std::vector<hangar_key> ck;
        ck.reserve(keys.size());
        for (const Key &k : keys) ck.push_back(k.c());
        size_t n = keys.size();
        for (size_t d : sample_shape) n *= d;
        detail::check(hangar_column_put_batch(c_.get(), ck.data(), ck.size(), data, n * sizeof(T), dtype_of<T>(),
                                              sample_shape.data(), sample_shape.size()));
    }

    /// Stores many str/bytes values in one call, all or nothing: `values[i]` under
    /// `keys[i]` (subsample `subkeys[i]` of it for a nested column).
    void update_text(const std::vector<Key> &keys, const std::vector<std::string> &values,
                     const std::vector<Key> *subkeys = nullptr) {
        if (keys.size() != values.size() || (subkeys && subkeys->size() != keys.size()))
            throw Error(HANGAR_E_INVALID_ARGUMENT, "keys, subkeys and values differ in length");
        std::vector<hangar_key> ck, cs;
        std::vector<hangar_value> cv;
        int32_t k = kind();
        for (size_t i = 0; i < keys.size(); i++) {
            ck.push_back(keys[i].c());
            if (subkeys) cs.push_back((*subkeys)[i].c());
            cv.push_back(hangar_value{k, 0, values[i].data(), values[i].size(), nullptr, 0});
        }
        detail::check(hangar_column_update(c_.get(), ck.data(), subkeys ? cs.data() : nullptr, cv.data(), cv.size()));
    }
    /// Stores an array under a generated key (a new subsample of `sample` when given) and
    /// returns the key.
    template <typename T>
    std::string append(const T *data, const std::vector<size_t> &shape, const std::optional<Key> &sample = std::nullopt) {
        size_t n = 1;
        for (size_t d : shape) n *= d;
        hangar_value v{HANGAR_KIND_NDARRAY, dtype_of<T>(), data, n * sizeof(T), shape.data(), shape.size()};
        return append_value(v, sample);
    }
    /// Stores text or bytes under a generated key and returns the key.
    std::string append_text(std::string_view text, const std::optional<Key> &sample = std::nullopt) {
        hangar_value v{kind(), 0, text.data(), text.size(), nullptr, 0};
        return append_value(v, sample);
    }
    /// Removes the array under `k` (subsample `sub`) and returns it.
    template <typename T>
    Array<T> pop(const Key &k, const std::optional<Key> &sub = std::nullopt) {
        SampleInfo i = info(k, sub);
        if (i.dtype != dtype_of<T>()) throw Error(HANGAR_E_INVALID_ARGUMENT, "the sample's dtype is not this element type");
        std::string bytes = pop_bytes(k, sub, i.shape);
        Array<T> out{std::vector<T>(bytes.size() / sizeof(T)), i.shape};
        std::memcpy(out.data.data(), bytes.data(), bytes.size());
        return out;
    }
    /// Removes the text or bytes under `k` (subsample `sub`) and returns it.
    std::string pop_text(const Key &k, const std::optional<Key> &sub = std::nullopt) {
        std::vector<size_t> none;
        return pop_bytes(k, sub, none);
    }

    SampleInfo info(const Key &k, const std::optional<Key> &sub = std::nullopt) const {
        hangar_key s = sub ? sub->c() : hangar_key{};
        hangar_sample_info i;
        detail::check(hangar_column_info(c_.get(), k.c(), sub ? &s : nullptr, &i, nullptr, 0));
        std::vector<size_t> shape(i.ndim);
        detail::check(hangar_column_info(c_.get(), k.c(), sub ? &s : nullptr, &i, shape.data(), shape.size()));
        return {i.kind, i.dtype, std::move(shape), i.nbytes};
    }
    /// A copy of the array under `k`; throws when T is not the column's dtype.
    template <typename T>
    Array<T> get(const Key &k, const std::optional<Key> &sub = std::nullopt) const {
        SampleInfo i = info(k, sub);
        if (i.dtype != dtype_of<T>()) throw Error(HANGAR_E_INVALID_ARGUMENT, "the sample's dtype is not this element type");
        Array<T> out{std::vector<T>(i.nbytes / sizeof(T)), i.shape};
        hangar_key s = sub ? sub->c() : hangar_key{};
        detail::check(hangar_column_get(c_.get(), k.c(), sub ? &s : nullptr, out.data.data(), i.nbytes, nullptr));
        return out;
    }
    /// The text or bytes under `k`.
    std::string get_text(const Key &k, const std::optional<Key> &sub = std::nullopt) const {
        hangar_key s = sub ? sub->c() : hangar_key{};
        hangar_buf *b = nullptr;
        detail::check(hangar_column_get_buf(c_.get(), k.c(), sub ? &s : nullptr, &b));
        return detail::take(b);
    }
    /// A zero-copy view (reader columns), valid until the reader closes.
    template <typename T>
    View<T> view(const Key &k, const std::optional<Key> &sub = std::nullopt) const {
        hangar_key s = sub ? sub->c() : hangar_key{};
        hangar_view v;
        detail::check(hangar_column_view(c_.get(), k.c(), sub ? &s : nullptr, &v));
        if (v.dtype != dtype_of<T>()) throw Error(HANGAR_E_INVALID_ARGUMENT, "the sample's dtype is not this element type");
        return View<T>(static_cast<const T *>(v.data), v.nbytes / sizeof(T), std::vector<size_t>(v.shape, v.shape + v.ndim));
    }
    /// Samples of a fixed-shape column, one after another.
    template <typename T>
    std::vector<T> get_batch(const std::vector<Key> &keys) const {
        std::vector<hangar_key> ck;
        for (const Key &k : keys) ck.push_back(k.c());
        size_t per = 1;
        for (size_t d : shape()) per *= d;
        std::vector<T> out(per * keys.size());
        detail::check(hangar_column_get_batch(c_.get(), ck.data(), ck.size(), out.data(), out.size() * sizeof(T)));
        return out;
    }
    void erase(const Key &k, const std::optional<Key> &sub = std::nullopt) {
        hangar_key s = sub ? sub->c() : hangar_key{};
        detail::check(hangar_column_delete(c_.get(), k.c(), sub ? &s : nullptr));
    }
    KeyRange keys() const {
        hangar_key_iter *it = nullptr;
        detail::check(hangar_column_keys(c_.get(), &it));
        return KeyRange(it);
    }
    KeyRange subkeys(const Key &k) const {
        hangar_key_iter *it = nullptr;
        detail::check(hangar_column_subkeys(c_.get(), k.c(), &it));
        return KeyRange(it);
    }

  private:
    std::string append_value(const hangar_value &v, const std::optional<Key> &sample) {
        hangar_key s = sample ? sample->c() : hangar_key{};
        hangar_buf *b = nullptr;
        detail::check(hangar_column_append(c_.get(), sample ? &s : nullptr, &v, &b));
        return detail::take(b);
    }
    std::string pop_bytes(const Key &k, const std::optional<Key> &sub, std::vector<size_t> &shape) {
        hangar_key s = sub ? sub->c() : hangar_key{};
        hangar_sample_info i;
        hangar_buf *b = nullptr;
        detail::check(hangar_column_pop(c_.get(), k.c(), sub ? &s : nullptr, &i, shape.data(), shape.size(), &b));
        return detail::take(b);
    }
    detail::Owned<hangar_column, hangar_column_free> c_;
};

/// One change of a diff (strings copied).
struct DiffEntry {
    int32_t change;
    int32_t scope;
    std::string column;
    std::optional<Key> key, subkey;
    std::string metadata_key;
};

/// A diff from A to B.
class Diff {
  public:
    explicit Diff(hangar_diff *d) : d_(d) {}
    hangar_diff_counts counts() const {
        hangar_diff_counts c;
        detail::check(hangar_diff_get_counts(d_.get(), &c));
        return c;
    }
    std::vector<DiffEntry> entries() const {
        size_t n = 0;
        detail::check(hangar_diff_len(d_.get(), &n));
        std::vector<DiffEntry> out;
        for (size_t i = 0; i < n; i++) {
            hangar_diff_entry e;
            detail::check(hangar_diff_get_entry(d_.get(), i, &e));
            DiffEntry x{e.change, e.scope, e.column ? e.column : "", std::nullopt, std::nullopt,
                        e.metadata_key ? e.metadata_key : ""};
            if (e.scope == HANGAR_SCOPE_SAMPLE) x.key = Key::from_c(e.key);
            if (e.has_subkey) x.subkey = Key::from_c(e.subkey);
            out.push_back(std::move(x));
        }
        return out;
    }
    std::string text() const {
        hangar_buf *b = nullptr;
        detail::check(hangar_diff_text(d_.get(), &b));
        return detail::take(b);
    }

  private:
    detail::Owned<hangar_diff, hangar_diff_free> d_;
};

/// What a merge did: a HANGAR_MERGE_* code and the branch's new head.
struct MergeResult {
    int32_t kind;
    std::string head;
    /// Conflicts a merge strategy settled by taking one side.
    size_t resolved = 0;
};

/// A reader checkout: an immutable commit.
class Reader {
  public:
    explicit Reader(hangar_reader *r) : r_(r) {}
    std::string commit() const {
        char buf[HANGAR_COMMIT_ID_LEN + 1];
        detail::check(hangar_reader_commit(r_.get(), buf, sizeof buf));
        return buf;
    }
    std::vector<std::string> columns() const {
        hangar_strlist *l = nullptr;
        detail::check(hangar_reader_columns(r_.get(), &l));
        return detail::take(l);
    }
    Column column(const std::string &name) const {
        hangar_column *c = nullptr;
        detail::check(hangar_reader_column(r_.get(), name.c_str(), &c));
        return Column(c);
    }
    Column operator[](const std::string &name) const { return column(name); }
    std::string metadata(const std::string &key) const {
        hangar_buf *b = nullptr;
        detail::check(hangar_reader_metadata_get(r_.get(), key.c_str(), &b));
        return detail::take(b);
    }
    std::vector<std::string> metadata_keys() const {
        hangar_strlist *l = nullptr;
        detail::check(hangar_reader_metadata_keys(r_.get(), &l));
        return detail::take(l);
    }
    void close() { detail::check(hangar_reader_close(r_.get())); }

  private:
    detail::Owned<hangar_reader, hangar_reader_free> r_;
};

/// The writer checkout (holds the repository's writer lock until closed or destroyed).
class Writer {
  public:
    explicit Writer(hangar_writer *w) : w_(w) {}
    std::string branch() const {
        char buf[512];
        detail::check(hangar_writer_branch(w_.get(), buf, sizeof buf));
        return buf;
    }
    std::string head() const {
        char buf[HANGAR_COMMIT_ID_LEN + 1];
        detail::check(hangar_writer_head(w_.get(), buf, sizeof buf));
        return buf;
    }
    std::vector<std::string> columns() const {
        hangar_strlist *l = nullptr;
        detail::check(hangar_writer_columns(w_.get(), &l));
        return detail::take(l);
    }
    Column column(const std::string &name) const {
        hangar_column *c = nullptr;
        detail::check(hangar_writer_column(w_.get(), name.c_str(), &c));
        return Column(c);
    }
    Column operator[](const std::string &name) const { return column(name); }

    /// A numeric column of T arrays of `shape` (the maximum shape when variable_shape).
    /// `compression`: "none" (default), "zstd", "zstd:<level>" or "lz4".
    template <typename T>
    Column add_ndarray_column(const std::string &name, const std::vector<size_t> &shape, bool variable_shape = false,
                              bool nested = false, const std::string &compression = "none") {
        hangar_ndarray_spec *s = nullptr;
        detail::check(hangar_ndarray_spec_new(dtype_of<T>(), shape.data(), shape.size(), &s));
        detail::Owned<hangar_ndarray_spec, hangar_ndarray_spec_free> spec(s);
        detail::check(hangar_ndarray_spec_variable_shape(s, variable_shape));
        detail::check(hangar_ndarray_spec_contains_subsamples(s, nested));
        detail::check(hangar_ndarray_spec_compression(s, compression.c_str()));
        hangar_column *c = nullptr;
        detail::check(hangar_writer_add_ndarray_column(w_.get(), name.c_str(), s, &c));
        return Column(c);
    }
    Column add_str_column(const std::string &name, bool nested = false, const std::string &compression = "none") {
        return add_text(name, HANGAR_KIND_STR, nested, compression);
    }
    Column add_bytes_column(const std::string &name, bool nested = false, const std::string &compression = "none") {
        return add_text(name, HANGAR_KIND_BYTES, nested, compression);
    }
    void delete_column(const std::string &name) { detail::check(hangar_writer_delete_column(w_.get(), name.c_str())); }

    void set_metadata(const std::string &key, const std::string &value) {
        detail::check(hangar_writer_metadata_set(w_.get(), key.c_str(), value.c_str()));
    }
    std::string metadata(const std::string &key) const {
        hangar_buf *b = nullptr;
        detail::check(hangar_writer_metadata_get(w_.get(), key.c_str(), &b));
        return detail::take(b);
    }
    void delete_metadata(const std::string &key) {
        detail::check(hangar_writer_metadata_delete(w_.get(), key.c_str()));
    }

    /// Commits and returns the new commit id.
    std::string commit(const std::string &message) {
        char buf[HANGAR_COMMIT_ID_LEN + 1];
        detail::check(hangar_writer_commit(w_.get(), message.c_str(), buf, sizeof buf));
        return buf;
    }
    bool dirty() const {
        bool d = false;
        detail::check(hangar_writer_status(w_.get(), &d, nullptr));
        return d;
    }
    std::string status() const {
        bool d = false;
        hangar_buf *b = nullptr;
        detail::check(hangar_writer_status(w_.get(), &d, &b));
        return detail::take(b);
    }
    /// Starts a bulk session: puts queue and are stored in parallel batches until
    /// bulk_end() (durable from then on). Prefer the RAII form, Bulk.
    void bulk_begin() { detail::check(hangar_writer_bulk_begin(w_.get())); }
    void bulk_end() { detail::check(hangar_writer_bulk_end(w_.get())); }
    void reset() { detail::check(hangar_writer_reset(w_.get())); }
    Diff diff_staged() const {
        hangar_diff *d = nullptr;
        detail::check(hangar_writer_diff_staged(w_.get(), &d));
        return Diff(d);
    }
    /// Merges branch `from` into this writer's branch; with HANGAR_MERGE_STRATEGY_REFUSE
    /// (the default) throws MergeConflict on conflicts, with _OURS or _THEIRS settles each
    /// by taking that side (MergeResult::resolved counts them).
    MergeResult merge(const std::string &from, const std::string &message,
                      int32_t strategy = HANGAR_MERGE_STRATEGY_REFUSE) {
        int32_t kind = 0;
        size_t resolved = 0;
        char head[HANGAR_COMMIT_ID_LEN + 1];
        detail::check(hangar_writer_merge_with(w_.get(), message.c_str(), from.c_str(), strategy, &kind, &resolved,
                                               head, sizeof head));
        return {kind, head, resolved};
    }
    void close() { detail::check(hangar_writer_close(w_.get())); }

  private:
    Column add_text(const std::string &name, int32_t kind, bool nested, const std::string &compression) {
        hangar_column *c = nullptr;
        detail::check(
            hangar_writer_add_text_column_compressed(w_.get(), name.c_str(), kind, nested, compression.c_str(), &c));
        return Column(c);
    }
    detail::Owned<hangar_writer, hangar_writer_free> w_;
};

/// A bulk session on a writer for this object's lifetime: puts queue and are stored in
/// parallel batches, durably once the session ends. end() ends it and reports errors;
/// the destructor ends it too, but cannot report an error.
class Bulk {
  public:
    explicit Bulk(Writer &w) : w_(&w) { w.bulk_begin(); }
    Bulk(const Bulk &) = delete;
    Bulk &operator=(const Bulk &) = delete;
    ~Bulk() {
        if (w_ != nullptr) {
            try {
                w_->bulk_end();
            } catch (...) {
            }
        }
    }
    void end() {
        Writer *w = w_;
        w_ = nullptr;
        w->bulk_end();
    }

  private:
    Writer *w_;
};

/// A repository.
class Repository {
  public:
    explicit Repository(hangar_repo *r) : r_(r) {}
    static Repository init(const std::string &path, const std::string &user_name, const std::string &user_email,
                           bool remove_old = false) {
        hangar_repo *r = nullptr;
        detail::check(hangar_repo_init(path.c_str(), user_name.c_str(), user_email.c_str(), remove_old, &r));
        return Repository(r);
    }
    static Repository open(const std::string &path) {
        hangar_repo *r = nullptr;
        detail::check(hangar_repo_open(path.c_str(), &r));
        return Repository(r);
    }
    /// A reader of a branch head (nullopt: the staging area's branch).
    Reader checkout(const std::optional<std::string> &branch = std::nullopt) const {
        hangar_reader *r = nullptr;
        detail::check(hangar_repo_checkout(r_.get(), detail::c_str_or_null(branch), &r));
        return Reader(r);
    }
    Reader checkout_commit(const std::string &commit) const {
        hangar_reader *r = nullptr;
        detail::check(hangar_repo_checkout_commit(r_.get(), commit.c_str(), &r));
        return Reader(r);
    }
    Writer checkout_writer(const std::optional<std::string> &branch = std::nullopt) const {
        hangar_writer *w = nullptr;
        detail::check(hangar_repo_checkout_writer(r_.get(), detail::c_str_or_null(branch), &w));
        return Writer(w);
    }
    // Opens the writer on `branch` as git's checkout does: staged changes move along when
    // they apply unchanged at its head, else HANGAR_E_DIRTY_STAGING and nothing changes
    // (see hangar.h; checkout_writer keeps the original Hangar's refusal).
    Writer switch_writer_branch(const std::string &branch) const {
        hangar_writer *w = nullptr;
        detail::check(hangar_repo_switch_writer_branch(r_.get(), branch.c_str(), &w));
        return Writer(w);
    }
    // Creates branch `name` at `start` (default: the current head) and opens the writer on
    // it, the staged changes moving along (git's checkout -b; see hangar.h).
    Writer checkout_writer_new_branch(const std::string &name,
                                      const std::optional<std::string> &start = std::nullopt) const {
        hangar_writer *w = nullptr;
        detail::check(hangar_repo_checkout_writer_new_branch(r_.get(), name.c_str(),
                                                             detail::c_str_or_null(start), &w));
        return Writer(w);
    }
    std::string summary(const std::optional<std::string> &at = std::nullopt) const {
        hangar_buf *b = nullptr;
        detail::check(hangar_repo_summary(r_.get(), detail::c_str_or_null(at), &b));
        return detail::take(b);
    }
    std::string log(const std::optional<std::string> &start = std::nullopt) const {
        hangar_buf *b = nullptr;
        detail::check(hangar_repo_log(r_.get(), detail::c_str_or_null(start), &b));
        return detail::take(b);
    }
    /// The commit log as data, newest first (`start`: a revision; default the head).
    std::vector<CommitInfo> log_entries(const std::optional<std::string> &start = std::nullopt) const {
        hangar_log *raw = nullptr;
        detail::check(hangar_repo_log_entries(r_.get(), detail::c_str_or_null(start), &raw));
        std::unique_ptr<hangar_log, void (*)(hangar_log *)> log(raw, hangar_log_free);
        size_t n = 0;
        detail::check(hangar_log_len(log.get(), &n));
        std::vector<CommitInfo> out;
        out.reserve(n);
        for (size_t i = 0; i < n; i++) {
            hangar_commit_info c{};
            detail::check(hangar_log_get(log.get(), i, &c));
            CommitInfo info{c.id, {}, c.author, c.email, c.message, c.time_ns, {}};
            for (size_t j = 0; j < c.n_parents; j++) {
                const char *p = nullptr;
                detail::check(hangar_log_parent(log.get(), i, j, &p));
                info.parents.emplace_back(p);
            }
            std::string heads = c.branch_heads;
            for (size_t start_at = 0; !heads.empty() && start_at <= heads.size();) {
                size_t comma = heads.find(',', start_at);
                if (comma == std::string::npos) comma = heads.size();
                info.branch_heads.push_back(heads.substr(start_at, comma - start_at));
                start_at = comma + 1;
            }
            out.push_back(std::move(info));
        }
        return out;
    }
    /// Bytes of every file of the repository's `.hangar` directory.
    uint64_t disk_usage() const {
        uint64_t n = 0;
        detail::check(hangar_repo_disk_usage(r_.get(), &n));
        return n;
    }
    /// Sets the memory budget (bytes) of the decoded pages of compressed columns this
    /// repository and its checkouts keep (default 256 MiB or `HANGAR_PAGE_CACHE_MB`; 0
    /// keeps none).
    void set_page_cache_budget(uint64_t bytes) const {
        detail::check(hangar_repo_set_page_cache_budget(r_.get(), bytes));
    }
    /// (budget, bytes of decoded pages held now) of the page cache.
    std::pair<uint64_t, uint64_t> page_cache_usage() const {
        uint64_t budget = 0, used = 0;
        detail::check(hangar_repo_page_cache_usage(r_.get(), &budget, &used));
        return {budget, used};
    }
    /// The on-disk format version the repository was written with.
    uint32_t format_version() const {
        uint32_t v = 0;
        detail::check(hangar_repo_format_version(r_.get(), &v));
        return v;
    }
    /// (intact, report)
    std::pair<bool, std::string> verify() const {
        bool ok = false;
        hangar_buf *b = nullptr;
        detail::check(hangar_repo_verify(r_.get(), &ok, &b));
        return {ok, detail::take(b)};
    }
    /// Removes what no branch, remote-tracking ref, reflog entry younger than `prune`
    /// ("now", "never", an age such as "14d"; default two weeks) and no staged change
    /// keeps (`hangar gc`). Returns the figures and the list of files (one per line).
    std::pair<hangar_gc_report, std::string> gc(const std::optional<std::string> &prune = std::nullopt,
                                                bool dry_run = false, double compact_below = -1.0) {
        hangar_gc_report report{};
        hangar_buf *b = nullptr;
        detail::check(hangar_repo_gc(r_.get(), detail::c_str_or_null(prune), dry_run, compact_below, &report, &b));
        return {report, detail::take(b)};
    }
    std::string resolve(const std::string &rev) const {
        char buf[HANGAR_COMMIT_ID_LEN + 1];
        detail::check(hangar_repo_resolve(r_.get(), rev.c_str(), buf, sizeof buf));
        return buf;
    }
    void create_branch(const std::string &name, const std::optional<std::string> &base = std::nullopt) {
        detail::check(hangar_repo_create_branch(r_.get(), name.c_str(), detail::c_str_or_null(base)));
    }
    std::vector<std::string> branches() const {
        hangar_strlist *l = nullptr;
        detail::check(hangar_repo_branches(r_.get(), &l));
        return detail::take(l);
    }
    std::string branch_head(const std::string &branch) const {
        char buf[HANGAR_COMMIT_ID_LEN + 1];
        detail::check(hangar_repo_branch_head(r_.get(), branch.c_str(), buf, sizeof buf));
        return buf;
    }
    void remove_branch(const std::string &name, bool force = false) {
        detail::check(hangar_repo_remove_branch(r_.get(), name.c_str(), force));
    }
    Diff diff(const std::string &a, const std::string &b) const {
        hangar_diff *d = nullptr;
        detail::check(hangar_repo_diff(r_.get(), a.c_str(), b.c_str(), &d));
        return Diff(d);
    }
    std::vector<Conflict> merge_conflicts(const std::string &into, const std::string &from) const {
        hangar_conflicts *c = nullptr;
        detail::check(hangar_repo_merge_conflicts(r_.get(), into.c_str(), from.c_str(), &c));
        detail::Owned<hangar_conflicts, hangar_conflicts_free> owned(c);
        return detail::read_conflicts(c);
    }
    MergeResult merge(const std::string &into, const std::string &from, const std::string &message) {
        int32_t kind = 0;
        char head[HANGAR_COMMIT_ID_LEN + 1];
        detail::check(hangar_repo_merge(r_.get(), message.c_str(), into.c_str(), from.c_str(), &kind, head, sizeof head));
        return {kind, head, 0};
    }
    /// Clones the repository at `url` (file:///dir, s3://bucket/prefix) into `path`;
    /// with `data`, every value of its history too. The remote is added as "origin".
    static Repository clone(const std::string &url, const std::string &path, const std::string &user_name,
                            const std::string &user_email, bool data = false,
                            const std::optional<std::string> &endpoint = std::nullopt,
                            const std::optional<std::string> &region = std::nullopt) {
        hangar_repo *r = nullptr;
        detail::check(hangar_repo_clone(url.c_str(), detail::c_str_or_null(endpoint), detail::c_str_or_null(region),
                                        path.c_str(), user_name.c_str(), user_email.c_str(), data, &r));
        return Repository(r);
    }
    /// Opens the repository at `url` for reading without cloning its data: values are
    /// fetched on first read and kept in a cache of `cache_bytes` (0: 1 GiB); history and
    /// record tables are kept in `cache_dir`.
    static Repository open_remote(const std::string &url, const std::string &cache_dir, uint64_t cache_bytes = 0,
                                  const std::optional<std::string> &endpoint = std::nullopt,
                                  const std::optional<std::string> &region = std::nullopt) {
        hangar_repo *r = nullptr;
        detail::check(hangar_repo_open_remote(url.c_str(), detail::c_str_or_null(endpoint),
                                              detail::c_str_or_null(region), cache_dir.c_str(), cache_bytes, &r));
        return Repository(r);
    }
    void add_remote(const std::string &name, const std::string &url,
                    const std::optional<std::string> &endpoint = std::nullopt,
                    const std::optional<std::string> &region = std::nullopt) {
        detail::check(hangar_repo_add_remote(r_.get(), name.c_str(), url.c_str(), detail::c_str_or_null(endpoint),
                                             detail::c_str_or_null(region)));
    }
    void remove_remote(const std::string &name) { detail::check(hangar_repo_remove_remote(r_.get(), name.c_str())); }
    /// Uploads what the remote lacks, then moves its branch; the report as text.
    std::string push(const std::string &remote, const std::string &branch) {
        hangar_buf *b = nullptr;
        detail::check(hangar_repo_push(r_.get(), remote.c_str(), branch.c_str(), &b));
        return detail::take(b);
    }
    /// History and record tables of `branch` (nullopt: every branch), no values.
    std::string fetch(const std::string &remote, const std::optional<std::string> &branch = std::nullopt) {
        hangar_buf *b = nullptr;
        detail::check(hangar_repo_fetch(r_.get(), remote.c_str(), detail::c_str_or_null(branch), &b));
        return detail::take(b);
    }
    std::string pull(const std::string &remote, const std::string &branch, const std::string &message) {
        hangar_buf *b = nullptr;
        detail::check(hangar_repo_pull(r_.get(), remote.c_str(), branch.c_str(), message.c_str(), &b));
        return detail::take(b);
    }
    /// The values of `rev` this repository lacks: of `columns` (empty: all), of integer
    /// keys in [range_start, range_end) when range_end > range_start, up to `max_bytes`
    /// (0: no limit); with `history`, of every commit `rev` descends from too.
    std::string fetch_data(const std::string &remote, const std::string &rev,
                           const std::vector<std::string> &columns = {}, uint64_t range_start = 0,
                           uint64_t range_end = 0, uint64_t max_bytes = 0, bool history = false) {
        std::vector<const char *> names;
        names.reserve(columns.size());
        for (const auto &c : columns) names.push_back(c.c_str());
        hangar_buf *b = nullptr;
        detail::check(hangar_repo_fetch_data(r_.get(), remote.c_str(), rev.c_str(), names.data(), names.size(),
                                             range_start, range_end, max_bytes, history, &b));
        return detail::take(b);
    }
    /// The values of exactly the samples `keys` of `column` at `rev` (every subsample of
    /// a nested column's sample) and the (sample, subsample) pairs `subsamples` that this
    /// repository lacks. Throws HANGAR_E_NOT_FOUND, with nothing fetched, when one is
    /// not in that column at `rev`.
    std::string fetch_data_keys(const std::string &remote, const std::string &rev, const std::string &column,
                                const std::vector<Key> &keys,
                                const std::vector<std::pair<Key, Key>> &subsamples = {}) {
        std::vector<hangar_key> ks, samples, subs;
        ks.reserve(keys.size());
        for (const auto &k : keys) ks.push_back(k.c());
        for (const auto &p : subsamples) {
            samples.push_back(p.first.c());
            subs.push_back(p.second.c());
        }
        hangar_buf *b = nullptr;
        detail::check(hangar_repo_fetch_data_keys(r_.get(), remote.c_str(), rev.c_str(), column.c_str(), ks.data(),
                                                  ks.size(), samples.data(), subs.data(), subs.size(), &b));
        return detail::take(b);
    }
    /// The remotes, sorted by name: (name, url) pairs.
    std::vector<std::pair<std::string, std::string>> remotes() const {
        hangar_strlist *n = nullptr, *u = nullptr;
        detail::check(hangar_repo_remotes(r_.get(), &n, &u));
        auto names = detail::take(n);
        auto urls = detail::take(u);
        std::vector<std::pair<std::string, std::string>> out;
        for (size_t i = 0; i < names.size() && i < urls.size(); i++) out.emplace_back(names[i], urls[i]);
        return out;
    }
    /// True while a writer checkout is open on the repository (in any process).
    bool writer_lock_held() const {
        bool held = false;
        detail::check(hangar_repo_writer_lock_held(r_.get(), &held));
        return held;
    }
    bool force_release_writer_lock() {
        bool released = false;
        detail::check(hangar_repo_force_release_writer_lock(r_.get(), &released));
        return released;
    }

  private:
    detail::Owned<hangar_repo, hangar_repo_free> r_;
};

inline std::string version() { return hangar_version(); }

}  // namespace hangar

#endif  // HANGAR_HPP
