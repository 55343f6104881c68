// Tests of the C++ binding: RAII, exceptions with status and message, views, key ranges,
// batches, nested columns, diff, merge conflicts as data. Usage: test_hangar SCRATCH_DIR
#include <hangar.hpp>

#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

static int failures = 0, checks = 0;

#define EXPECT(cond)                                                                  \
    do {                                                                              \
        checks++;                                                                     \
        if (!(cond)) {                                                                \
            failures++;                                                               \
            std::cerr << __FILE__ << ":" << __LINE__ << ": expectation failed: " #cond "\n"; \
        }                                                                             \
    } while (0)

// Expects `expr` to throw hangar::Error with status `want`.
#define EXPECT_THROWS(want, expr)                                                   \
    do {                                                                              \
        checks++;                                                                     \
        try {                                                                         \
            (void)(expr);                                                             \
            failures++;                                                               \
            std::cerr << __FILE__ << ":" << __LINE__ << ": no exception from " #expr "\n"; \
        } catch (const hangar::Error &e) {                                            \
            if (e.status() != (want)) {                                             \
                failures++;                                                           \
                std::cerr << __FILE__ << ":" << __LINE__ << ": " #expr " threw " << e.what() << "\n"; \
            }                                                                         \
        }                                                                             \
    } while (0)

// Every integer type converts to a Key (issue 12 item 17: int64_t, unsigned and long long
// were ambiguous); negative values are refused at run time.
template <typename I>
static void key_from(I n, bool negative) {
    if (negative) {
        EXPECT_THROWS(HANGAR_E_INVALID_ARGUMENT, hangar::Key(n));
    } else {
        hangar::Key k = n;  // implicit, as in col.put(n, ...)
        EXPECT(k.is_int() && k.number() == static_cast<uint64_t>(n));
    }
}

static void integer_keys() {
    key_from<short>(3, false);
    key_from<unsigned short>(3, false);
    key_from<int>(3, false);
    key_from<unsigned>(3u, false);
    key_from<long>(3L, false);
    key_from<unsigned long>(3UL, false);
    key_from<long long>(3LL, false);
    key_from<unsigned long long>(3ULL, false);
    key_from<int8_t>(3, false);
    key_from<uint8_t>(3, false);
    key_from<int16_t>(3, false);
    key_from<uint16_t>(3, false);
    key_from<int32_t>(3, false);
    key_from<uint32_t>(3, false);
    key_from<int64_t>(INT64_MAX, false);
    key_from<uint64_t>(UINT64_MAX, false);
    key_from<size_t>(7, false);
    key_from<int>(-1, true);
    key_from<int64_t>(-5, true);
    key_from<long long>(-1LL, true);
    key_from<int8_t>(-1, true);
    EXPECT(!hangar::Key("7").is_int() && hangar::Key(std::string("x")).text() == "x");
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    integer_keys();
    std::string dir = argv[1];
    mkdir(dir.c_str(), 0755);

    EXPECT_THROWS(HANGAR_E_NOT_FOUND, hangar::Repository::open(dir));
    auto repo = hangar::Repository::init(dir, "Ada", "ada@example.com");
    EXPECT_THROWS(HANGAR_E_ALREADY_EXISTS, hangar::Repository::init(dir, "Ada", "ada@example.com"));
    EXPECT(hangar::version() == std::to_string(HANGAR_VERSION_MAJOR) + "." + std::to_string(HANGAR_VERSION_MINOR) +
                                    "." + std::to_string(HANGAR_VERSION_PATCH));
    std::string first;
    {
        EXPECT(!repo.writer_lock_held());
        auto co = repo.checkout_writer();
        EXPECT(co.branch() == "master");
        EXPECT(repo.writer_lock_held());
        EXPECT_THROWS(HANGAR_E_LOCKED, repo.checkout_writer());
        auto images = co.add_ndarray_column<uint8_t>("images", {2, 2});
        auto fields = co.add_ndarray_column<double>("fields", {3, 3}, true);
        auto nested = co.add_ndarray_column<int16_t>("parts", {2}, false, true);
        auto text = co.add_str_column("captions");
        EXPECT_THROWS(HANGAR_E_ALREADY_EXISTS, co.add_str_column("captions"));
        EXPECT(images.shape() == (std::vector<size_t>{2, 2}) && images.dtype() == HANGAR_DTYPE_U8);

        std::vector<uint8_t> px{1, 2, 3, 4};
        images.put(0, px, {2, 2});
        images.put("cat", px.data(), {2, 2});
        EXPECT_THROWS(HANGAR_E_INVALID_ARGUMENT, images.put(1, px, {4, 1}));
        EXPECT_THROWS(HANGAR_E_INVALID_ARGUMENT, images.put(1, std::vector<float>{1, 2, 3, 4}, {2, 2}));
        EXPECT_THROWS(HANGAR_E_INVALID_ARGUMENT, images.put(1, px, {3, 3}));
        std::vector<uint8_t> batch(4 * 10);
        std::vector<hangar::Key> keys;
        for (int i = 0; i < 10; i++) {
            batch[i * 4] = static_cast<uint8_t>(i);
            keys.emplace_back(100 + i);
        }
        images.put_batch(keys, batch.data(), {2, 2});
        {
            hangar::Bulk bulk(co);
            EXPECT_THROWS(HANGAR_E_INVALID_ARGUMENT, co.bulk_begin());
            for (int i = 0; i < 100; i++) images.put(200 + i, px, {2, 2});
            EXPECT(images.contains(249));
            bulk.end();
            EXPECT_THROWS(HANGAR_E_INVALID_ARGUMENT, co.bulk_end());
        }
        {
            // 112 keys: more than one batch of the iterator (64), integers in order
            // then the string key, each once.
            std::vector<hangar::Key> seen;
            for (const hangar::Key &k : images.keys()) seen.push_back(k);
            EXPECT(seen.size() == 112 && seen.front() == hangar::Key(0) && seen[63] == hangar::Key(252) &&
                   seen[64] == hangar::Key(253) && seen.back() == hangar::Key("cat"));
        }
        { hangar::Bulk ended_by_destructor(co); }
        for (int i = 0; i < 100; i++) images.erase(200 + i);
        fields.put(0, std::vector<double>{1.5, 2.5}, {1, 2});
        text.put_text(0, "zero");
        EXPECT_THROWS(HANGAR_E_INVALID_UTF8, text.put_text(1, std::string("\xff", 1)));
        nested.put("s", std::vector<int16_t>{-1, 1}, {2}, hangar::Key("a"));
        nested.put("s", std::vector<int16_t>{-2, 2}, {2}, hangar::Key(7));
        EXPECT(images.size() == 12 && nested.size() == 1 && nested.num_subsamples() == 2);
        EXPECT(images.contains("cat") && !images.contains(5));
        auto arr = images.get<uint8_t>("cat");
        EXPECT(arr.data == px && arr.shape == (std::vector<size_t>{2, 2}));
        EXPECT_THROWS(HANGAR_E_INVALID_ARGUMENT, images.get<float>("cat"));
        EXPECT(fields.get<double>(0).shape == (std::vector<size_t>{1, 2}));
        EXPECT(text.get_text(0) == "zero");
        EXPECT_THROWS(HANGAR_E_NOT_FOUND, text.get_text(9));
        EXPECT(nested.get<int16_t>("s", hangar::Key(7)).data[0] == -2);
        size_t n = 0, strs = 0;
        for (const hangar::Key &k : images.keys()) {
            n++;
            if (!k.is_int()) strs++;
        }
        EXPECT(n == 12 && strs == 1);
        // update (any kind, all or nothing), append with a generated key, pop.
        text.update_text({hangar::Key(10), hangar::Key("eleven")}, {"ten", ""});
        EXPECT(text.get_text("eleven").empty() && text.get_text(10) == "ten");
        EXPECT_THROWS(HANGAR_E_INVALID_UTF8, text.update_text({hangar::Key(12), hangar::Key(13)}, {"ok", std::string("\xff", 1)}));
        EXPECT(!text.contains(12));
        std::string made = text.append_text("appended");
        EXPECT(made.size() == 28 && text.get_text(made) == "appended");
        EXPECT(text.pop_text(made) == "appended" && !text.contains(made));
        EXPECT_THROWS(HANGAR_E_NOT_FOUND, text.pop_text(made));
        std::vector<int16_t> part{5, 6};
        std::string sub = nested.append(part.data(), {2}, hangar::Key("s"));
        EXPECT(nested.num_subsamples() == 3);
        auto popped = nested.pop<int16_t>("s", hangar::Key(sub));
        EXPECT(popped.data == part && popped.shape == (std::vector<size_t>{2}) && nested.num_subsamples() == 2);
        auto img = images.pop<uint8_t>("cat");
        EXPECT(img.data == px && !images.contains("cat"));
        images.put("cat", px, {2, 2});
        size_t subs = 0;
        for (const auto &k : nested.subkeys("s")) {
            (void)k;
            subs++;
        }
        EXPECT(subs == 2);
        auto got = images.get_batch<uint8_t>(keys);
        EXPECT(got == batch);
        images.erase(100);
        EXPECT_THROWS(HANGAR_E_NOT_FOUND, images.erase(100));
        co.set_metadata("note", "c++");
        EXPECT(co.metadata("note") == "c++");
        EXPECT(co.dirty() && co.status().find("images") != std::string::npos);
        EXPECT(co.diff_staged().counts().columns_added == 4);
        first = co.commit("first from C++");
        EXPECT(first.size() == HANGAR_COMMIT_ID_LEN && co.head() == first);
        EXPECT_THROWS(HANGAR_E_NOTHING_TO_COMMIT, co.commit("nothing"));
    }  // the writer's destructor releases the lock
    {
        auto reader = repo.checkout();
        EXPECT(reader.commit() == first);
        auto images = reader["images"];
        auto v = images.view<uint8_t>("cat");
        EXPECT(v.size() == 4 && v[3] == 4 && v.shape() == (std::vector<size_t>{2, 2}));
        unsigned sum = 0;
        for (uint8_t x : v) sum += x;
        EXPECT(sum == 10);
        EXPECT_THROWS(HANGAR_E_INVALID_ARGUMENT, images.put(1, std::vector<uint8_t>{1, 2, 3, 4}, {2, 2}));
        EXPECT(reader.metadata("note") == "c++");
        reader.close();
        EXPECT_THROWS(HANGAR_E_CLOSED, images.size());
    }

    // Branches, a conflicting merge (the report as data), then a clean one.
    repo.create_branch("dev");
    {
        auto co = repo.checkout_writer("dev");
        co["captions"].put_text(1, "dev");
        co.commit("dev");
    }
    auto co = repo.checkout_writer("master");
    co["captions"].put_text(1, "master");
    co.commit("master");
    EXPECT(repo.diff("master", "dev").entries().size() == 1);
    EXPECT(repo.merge_conflicts("master", "dev").size() == 1);
    try {
        co.merge("dev", "merge dev");
        EXPECT(false);
    } catch (const hangar::MergeConflict &e) {
        EXPECT(e.status() == HANGAR_E_MERGE_CONFLICT && e.conflicts().size() == 1);
        EXPECT(e.conflicts()[0].column == "captions" && e.conflicts()[0].key == "1");
        EXPECT(e.conflicts()[0].kind == HANGAR_CONFLICT_ADDED_IN_BOTH && !e.conflicts()[0].base);
    }
    EXPECT_THROWS(HANGAR_E_INVALID_ARGUMENT, co.merge("dev", "merge dev", 9));
    auto m = co.merge("dev", "merge dev", HANGAR_MERGE_STRATEGY_THEIRS);
    EXPECT(m.kind == HANGAR_MERGE_MERGED && m.head == co.head() && m.resolved == 1);
    EXPECT(co["captions"].get_text(1) == "dev");
    co.close();
    EXPECT_THROWS(HANGAR_E_CLOSED, co.commit("closed"));
    EXPECT(repo.verify().first);
    {
        // Everything here is on a branch: gc removes nothing, and refuses a bad --prune.
        auto [dry, dry_files] = repo.gc("now", true);
        EXPECT(dry.dry_run && dry.files_removed == 0 && dry.dead_entries == 0 && dry_files.empty());
        auto [done, files] = repo.gc();
        EXPECT(!done.dry_run && done.files_removed == 0 && done.live_entries > 0);
        EXPECT_THROWS(HANGAR_E_INVALID_ARGUMENT, repo.gc(std::string("soon")));
        EXPECT_THROWS(HANGAR_E_INVALID_ARGUMENT, repo.gc(std::nullopt, false, 2.0));
    }
    EXPECT(repo.verify().first);
    EXPECT(repo.log().find("merge dev") != std::string::npos);
    {
        auto entries = repo.log_entries();
        EXPECT(!entries.empty() && entries[0].message.find("merge dev") != std::string::npos);
        EXPECT(entries[0].parents.size() == 2 && entries[0].id.size() == HANGAR_COMMIT_ID_LEN);
        EXPECT(entries[0].author == "Ada" && entries[0].time_ns > 0);
        EXPECT(entries[0].branch_heads == std::vector<std::string>{"master"});
        EXPECT(entries.back().parents.empty());
        EXPECT_THROWS(HANGAR_E_NOT_FOUND, repo.log_entries("nosuch"));
        EXPECT(repo.disk_usage() > 1000 && repo.format_version() == HANGAR_FORMAT_VERSION);
    }
    EXPECT(repo.branches().size() == 2);
    {
        // checkout -b: the staged change moves to the new branch; master keeps its head.
        auto co = repo.checkout_writer();
        const std::string head = co.head();
        co["captions"].put_text(42, "staged");
        co.close();
        EXPECT_THROWS(HANGAR_E_ALREADY_EXISTS, repo.checkout_writer_new_branch("dev"));
        auto nb = repo.checkout_writer_new_branch("topic");
        EXPECT(nb.branch() == "topic" && nb.head() == head);
        EXPECT(nb["captions"].get_text(42) == "staged");
        nb.commit("on topic");
        nb.close();
        EXPECT(repo.branch_head("master") == head && repo.branch_head("topic") != head);
        repo.checkout_writer("master").close();
    }
    {
        // git's checkout: a change staged on master moves to "topic2" (at master's head);
        // checkout_writer keeps refusing, and an unknown branch is NOT_FOUND.
        repo.create_branch("topic2");
        auto co = repo.checkout_writer();
        const std::string head = co.head();
        co["captions"].put_text(43, "carried");
        co.close();
        EXPECT_THROWS(HANGAR_E_DIRTY_STAGING, repo.checkout_writer("topic2"));
        EXPECT_THROWS(HANGAR_E_NOT_FOUND, repo.switch_writer_branch("nosuch"));
        auto sw = repo.switch_writer_branch("topic2");
        EXPECT(sw.branch() == "topic2" && sw.head() == head && sw.dirty());
        EXPECT(sw["captions"].get_text(43) == "carried");
        sw.commit("carried to topic2");
        sw.close();
        EXPECT(repo.branch_head("master") == head && repo.branch_head("topic2") != head);
        repo.checkout_writer("master").close();
    }

    {
        // Compressed columns: values sealed as Parquet segments read back exactly.
        auto co = repo.checkout_writer();
        auto z = co.add_ndarray_column<float>("zfloats", {64}, false, false, "zstd:5");
        auto t = co.add_str_column("znotes", false, "lz4");
        EXPECT_THROWS(HANGAR_E_INVALID_ARGUMENT, co.add_ndarray_column<float>("bad", {2}, false, false, "gzip"));
        EXPECT_THROWS(HANGAR_E_INVALID_ARGUMENT, co.add_bytes_column("bad", false, "zstd:99"));
        EXPECT(z.compression() == "zstd:5" && t.compression() == "lz4" && co["images"].compression() == "none");
        std::vector<float> v(64);
        for (int i = 0; i < 30; i++) {
            for (int j = 0; j < 64; j++) v[j] = static_cast<float>(i * 100 + j);
            z.put(i, v, {64});
            t.put_text(i, std::string(100, static_cast<char>('a' + i)));
        }
        co.commit("compressed columns");
        co.close();
        auto reader = repo.checkout();
        auto zr = reader["zfloats"];
        for (int i = 0; i < 30; i++) {
            auto got = zr.view<float>(i);
            EXPECT(got.size() == 64 && got[0] == static_cast<float>(i * 100) && got[63] == static_cast<float>(i * 100 + 63));
            EXPECT(reader["znotes"].get_text(i) == std::string(100, static_cast<char>('a' + i)));
        }
        // The decoded pages are held within the page cache's budget; 0 drops them.
        auto usage = repo.page_cache_usage();
        EXPECT(usage.second > 0 && usage.second <= usage.first);
        repo.set_page_cache_budget(0);
        EXPECT(repo.page_cache_usage() == std::make_pair(uint64_t{0}, uint64_t{0}));
        EXPECT(zr.view<float>(3)[1] == 301.0f);
        EXPECT(repo.page_cache_usage().second == 0);
        repo.set_page_cache_budget(64u << 20);
        reader.close();
    }
    EXPECT(repo.verify().first);

    // Moves transfer ownership; the moved-from object holds nothing.
    hangar::Repository moved = std::move(repo);
    EXPECT(moved.summary().find("captions") != std::string::npos);

    std::printf("%d checks, %d failures\n", checks, failures);
    {
        // Remotes: push, a clone without data (HANGAR_E_NOT_FETCHED), fetch-data, and
        // streaming reads through open_remote.
        std::string remote_dir = dir + "-remote";
        mkdir(remote_dir.c_str(), 0755);
        std::string url = "file://" + remote_dir;
        auto src = hangar::Repository::init(dir + "-src", "Ada", "ada@example.com");
        {
            auto co = src.checkout_writer();
            auto big = co.add_ndarray_column<uint8_t>("big", {16, 16});
            std::vector<uint8_t> px(256, 7);
            big.put(0, px, {16, 16});
            co.commit("big");
        }
        EXPECT_THROWS(HANGAR_E_INVALID_ARGUMENT, src.add_remote("origin", "ftp://x/y"));
        src.add_remote("origin", url);
        {
            auto rs = src.remotes();
            EXPECT(rs.size() == 1 && rs[0].first == "origin" && rs[0].second == url);
        }
        EXPECT(src.push("origin", "master").find("1 values") != std::string::npos);
        auto copy = hangar::Repository::clone(url, dir + "-copy", "Bo", "bo@example.com");
        {
            auto reader = copy.checkout();
            auto big = reader.column("big");
            EXPECT_THROWS(HANGAR_E_NOT_FETCHED, big.get<uint8_t>(0));
        }
        EXPECT_THROWS(HANGAR_E_NOT_FOUND, copy.fetch_data("origin", "master", {"nope"}));
        EXPECT_THROWS(HANGAR_E_NOT_FOUND, copy.fetch_data_keys("origin", "master", "big", {0, 1}));
        EXPECT(copy.fetch_data_keys("origin", "master", "big", {0}).find("fetched 1 values") != std::string::npos);
        {
            auto reader = copy.checkout();
            EXPECT(reader.column("big").get<uint8_t>(0).data == std::vector<uint8_t>(256, 7));
        }
        copy.fetch_data("origin", "master", {}, 0, 0, 0, true);
        {
            auto reader = copy.checkout();
            EXPECT(reader.column("big").get<uint8_t>(0).data == std::vector<uint8_t>(256, 7));
        }
        auto stream = hangar::Repository::open_remote(url, dir + "-stream");
        {
            auto reader = stream.checkout();
            EXPECT(reader.column("big").get<uint8_t>(0).data == std::vector<uint8_t>(256, 7));
        }
        EXPECT_THROWS(HANGAR_E_CONFLICT, [&] {
            auto co = src.checkout_writer();
            co.column("big").put(1, std::vector<uint8_t>(256, 1), {16, 16});
            co.commit("ours");
            auto w = copy.checkout_writer();
            w.column("big").put(2, std::vector<uint8_t>(256, 2), {16, 16});
            w.commit("theirs");
            copy.push("origin", "master");
            src.push("origin", "master");
        }());
    }
    return failures == 0 ? 0 : 1;
}
