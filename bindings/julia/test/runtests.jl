# The Julia binding's tests. Run where Julia is installed, after building libhangar:
#   make -C crates/hangar-ffi install PREFIX=$HOME/.local
#   HANGAR_LIB=$HOME/.local/lib/libhangar.so julia --project=bindings/julia -e 'using Pkg; Pkg.test()'
using Hangar
using Test

@testset "Hangar.jl" begin
    dir = mktempdir()
    @test_throws HangarError Repository(dir)
    repo = init_repository(dir, "Ada", "ada@example.com")
    @test_throws HangarError init_repository(dir, "Ada", "ada@example.com")

    @test !writer_lock_held(repo)
    first = checkout_writer(repo) do co
        @test writer_lock_held(repo)
        err = try
            checkout_writer(repo); nothing
        catch e
            e
        end
        @test err isa HangarError && err.name == "HANGAR_E_LOCKED"
        images = add_ndarray_column!(co, "images", UInt8, 3, 2)
        labels = add_str_column!(co, "labels")
        blobs = add_bytes_column!(co, "blobs")
        blobs[0] = UInt8[0x00, 0xff, 0x10]
        nested = add_ndarray_column!(co, "parts", Float32, 4; nested = true)
        a = reshape(UInt8.(1:6), 3, 2)
        images[0] = a
        images["cat"] = a .+ 0x01
        labels[0] = "zero ✓"
        nested["s", 1] = Float32[1, 2, 3, 4]
        @test_throws HangarError images[1] = zeros(Float64, 3, 2)
        @test_throws HangarError images[1] = zeros(UInt8, 4, 4)
        @test_throws ArgumentError images[-1] = a
        @test images[0] == a
        @test labels[0] == "zero ✓"
        @test blobs[0] == UInt8[0x00, 0xff, 0x10]
        @test nested["s", 1] == Float32[1, 2, 3, 4]
        @test haskey(images, "cat") && !haskey(images, 7)
        @test haskey(nested, ("s", 1))
        @test length(images) == 2 && num_subsamples(nested) == 1
        @test keys(images) == Any[0, "cat"]
        @test collect(images) == Any[0, "cat"]
        @test subkeys(nested, "s") == Any[1]
        bulk(co) do
            for i in 100:149
                images[i] = a
            end
            @test haskey(images, 149)
        end
        @test length(images) == 52
        @test_throws ErrorException bulk(() -> error("stop"), co)
        for i in 100:149
            delete!(images, i)
        end
        update!(labels, [10, "eleven"], ["ten", ""])
        @test labels[10] == "ten" && labels["eleven"] == ""
        @test_throws HangarError update!(labels, [12, 13], ["ok", String([0xff])])
        @test !haskey(labels, 12)
        update!(nested, ["s", "t"], [Float32[5, 6, 7, 8], Float32[0, 0, 0, 1]]; subkeys = [2, 0])
        @test num_subsamples(nested) == 3 && nested["t", 0] == Float32[0, 0, 0, 1]
        k = append_sample!(labels, "appended")
        @test length(k) == 28 && labels[k] == "appended"
        @test pop!(labels, k) == "appended" && !haskey(labels, k)
        @test_throws HangarError pop!(labels, k)
        sub = append_sample!(nested, Float32[9, 9, 9, 9]; sample = "t")
        @test pop!(nested, "t", sub) == Float32[9, 9, 9, 9]
        images[7] = a
        @test pop!(images, 7) == a && !haskey(images, 7)
        for key in (10, "eleven")
            delete!(labels, key)
        end
        delete!(nested, "s", 2)
        delete!(nested, "t")
        setmetadata!(co, "source", "julia")
        @test isdirty(co)
        id = commit!(co, "first from Julia")
        @test !isdirty(co)
        @test_throws HangarError commit!(co, "nothing staged")
        id
    end
    @test length(first) == 64

    checkout(repo) do r
        @test commit_id(r) == first
        @test columns(r) == ["blobs", "images", "labels", "parts"]
        @test metadata(r, "source") == "julia"
        withview(r["images"], "cat") do v
            @test v == reshape(UInt8.(2:7), 3, 2)
        end
    end
    r = checkout(repo; commit = first[1:8])
    col = r["images"]
    close(r)
    close(r) # idempotent
    @test_throws HangarError length(col)

    create_branch!(repo, "dev")
    checkout_writer(repo; branch = "dev") do co
        co["labels"][1] = "dev"
        commit!(co, "dev")
    end
    checkout_writer(repo) do co
        co["labels"][1] = "master"
        commit!(co, "master")
        e = try
            merge!(co, "dev"); nothing
        catch err
            err
        end
        @test e isa MergeConflictError
        @test length(e.conflicts) == 1 && e.conflicts[1].column == "labels" && e.conflicts[1].key == "1"
        @test_throws ArgumentError merge!(co, "dev"; strategy = :mine)
        kind, head = merge!(co, "dev"; strategy = :theirs)
        @test kind == :merged && head == commit_id(co)
        @test co["labels"][1] == "dev"
    end
    @test sort(branches(repo)) == ["dev", "master"]
    # checkout -b: the staged change moves to the new branch, master keeps its head.
    master_head = branch_head(repo, "master")
    checkout_writer(repo) do co
        co["labels"][77] = "staged"
    end
    @test_throws ArgumentError checkout_writer(repo; new_branch = true)
    @test_throws HangarError checkout_writer(repo; branch = "dev", new_branch = true)
    checkout_writer(repo; branch = "topic", new_branch = true) do co
        @test commit_id(co) == master_head
        @test co["labels"][77] == "staged"
        commit!(co, "on topic")
    end
    @test branch_head(repo, "master") == master_head
    checkout_writer(repo; branch = "master") do co end
    # git's checkout (carry=true): a change staged on master moves to a branch at its head.
    create_branch!(repo, "topic2")
    checkout_writer(repo) do co
        co["labels"][78] = "carried"
    end
    @test_throws HangarError checkout_writer(repo; branch = "topic2")
    @test_throws ArgumentError checkout_writer(repo; carry = true)
    checkout_writer(repo; branch = "topic2", carry = true) do co
        @test commit_id(co) == master_head
        @test co["labels"][78] == "carried"
        commit!(co, "on topic2")
    end
    @test branch_head(repo, "master") == master_head
    checkout_writer(repo; branch = "master") do co end
    @test sort(branches(repo)) == ["dev", "master", "topic", "topic2"]
    @test occursin("labels", diff_text(repo, first, "master"))
    ok, report = verify(repo)
    @test ok
    @test occursin("first from Julia", commit_log(repo))
    # show: never a raw pointer; merge! above is Base.merge!, extended.
    @test repr(repo) == "Hangar.Repository(open)"
    @test merge! === Base.merge!
    @test log_entries(repo)[1].author != "" && disk_usage(repo) > 0 && format_version(repo) == 2
    @test occursin("images", summary(repo))
    # gc: the deleted-branch grace keeps everything here; a dry run changes nothing.
    report, files = gc!(repo; prune = "now", dry_run = true)
    @test report.dry_run && report.files_deferred == 0
    report, files = gc!(repo)
    @test !report.dry_run && report.files_kept == 0
    @test_throws HangarError gc!(repo; prune = "soon")

    # Remotes over file://: push, a partial clone, fetch_data!, pull!, streaming reads.
    checkout_writer(repo) do co
        big = add_ndarray_column!(co, "big", UInt8, 16, 16)
        big[0] = fill(0x07, 16, 16)   # 256 bytes: stored in a segment, not inline
        commit!(co, "big")
    end
    remote_dir = mktempdir()
    url = "file://" * remote_dir
    add_remote!(repo, "origin", url)
    @test remotes(repo) == [(name = "origin", url = url)]
    @test_throws HangarError add_remote!(repo, "origin", url)
    @test occursin("values", push_remote(repo, "origin", "master"))
    copy_dir = joinpath(mktempdir(), "copy")
    cl = clone_repository(url, copy_dir; user_name = "Bo", user_email = "bo@example.com")
    @test not_fetched(cl) == 1 && not_fetched(cl; column = "big") == 1
    e = try
        checkout(c -> c["big"][0], cl); nothing
    catch err
        err
    end
    @test e isa HangarError && e.name == "HANGAR_E_NOT_FETCHED"
    e = try
        fetch_data_keys!(cl, "origin", "master", "big", [0, 1]); nothing
    catch err
        err
    end
    @test e isa HangarError && e.name == "HANGAR_E_NOT_FOUND" && not_fetched(cl) == 1
    @test occursin("fetched 1 values", fetch_data_keys!(cl, "origin", "master", "big", [0]))
    @test not_fetched(cl) == 0
    fetch_data!(cl, "origin", "master"; columns = ["big"], history = true)
    @test not_fetched(cl) == 0
    @test checkout(c -> c["big"][0], cl) == fill(0x07, 16, 16)
    fetch_remote(cl, "origin")
    pull!(cl, "origin", "master")
    stream = open_remote(url, mktempdir())
    @test checkout(c -> c["big"][0], stream) == fill(0x07, 16, 16)
    @test stream_stats(stream).misses == 1
    remove_remote!(repo, "origin")
    @test isempty(remotes(repo))

    # Compressed columns: sealed as Parquet segments, read back exactly.
    zdir = mktempdir()
    zrepo = init_repository(zdir, "Ada", "ada@example.com")
    checkout_writer(zrepo) do co
        z = add_ndarray_column!(co, "z", Float32, 8, 8; compression = "zstd:5")
        t = add_str_column!(co, "t"; compression = "lz4")
        @test_throws HangarError add_bytes_column!(co, "bad"; compression = "gzip")
        @test column_compression(z) == "zstd:5" && column_compression(t) == "lz4"
        for i in 0:19
            z[i] = fill(Float32(i), 8, 8)
            t[i] = repeat("x", 80 + i)
        end
        commit!(co, "compressed")
    end
    checkout(zrepo) do c
        @test all(c["z"][i] == fill(Float32(i), 8, 8) for i in 0:19)
        @test all(c["t"][i] == repeat("x", 80 + i) for i in 0:19)
        u = page_cache_usage(zrepo)
        @test 0 < u.used <= u.budget
        set_page_cache_budget!(zrepo, 0)
        @test page_cache_usage(zrepo) == (budget = 0, used = 0)
        @test c["z"][3] == fill(Float32(3), 8, 8)
        @test page_cache_usage(zrepo).used == 0
    end
    @test verify(zrepo)[1]
end
