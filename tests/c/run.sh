#!/usr/bin/env bash
# The C and C++ side of the test suite, against libhangar installed the documented way:
#   - make install into a scratch prefix; programs built with `pkg-config --cflags --libs hangar`
#   - tests/c/test_api.c with -Wall -Wextra -Werror and ASan/UBSan, then under valgrind (no leaks)
#   - every function with NULL, wrong-kind and freed arguments (tests/c/gen_abi_sweep.py)
#   - examples/c/tutorial.c, linked dynamically (ASan) and statically (libhangar.a)
#   - a CMake project (tests/c/cmake): find_package(hangar), the shared and static targets,
#     the C++ layer hangar.hpp as installed; versions and broken prefixes refused
#   - hangar.h compiled alone as C99 and as C++17
#   - every function declared in hangar.h is exported by libhangar.so, and vice versa
#   - the C++ binding's tests (bindings/cpp) with ASan/UBSan
#   - the Julia binding: ccall signatures checked against hangar.h; its tests where julia exists
# Usage: tests/c/run.sh [SCRATCH_DIR]   (default target/c-tests)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
scratch=${1:-target/c-tests}
rm -rf "$scratch" && mkdir -p "$scratch"
scratch=$(cd "$scratch" && pwd)
prefix=$scratch/prefix
step() { printf '\n--- %s\n' "$1"; }

step "make install into $prefix"
make -s -C crates/hangar-ffi install PREFIX="$prefix" > "$scratch/install.log"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
export LD_LIBRARY_PATH=$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
read -r -a hangar_flags <<< "$(pkg-config --cflags --libs hangar)"
soname=$(readelf -d "$prefix/lib/libhangar.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
echo "pkg-config: ${hangar_flags[*]}; soname $soname"
[ -e "$prefix/lib/$soname" ] || { echo "the soname $soname is not installed" >&2; exit 1; }
# Once built, installing again runs no cargo and writes nothing into the build tree (as
# `sudo make install` after `make` must not).
touch "$scratch/before-reinstall"
make -s -C crates/hangar-ffi install PREFIX="$prefix" CARGO=false >> "$scratch/install.log" \
  || { echo "make install ran cargo although the library was built" >&2; exit 1; }
# (PROFILE=dist tests/c/run.sh tests the library of the dist profile: make reads PROFILE.)
if find "${CARGO_TARGET_DIR:-target}/${PROFILE:-release}" -maxdepth 1 -newer "$scratch/before-reinstall" | grep .; then
  echo "make install wrote the files above into the build tree" >&2; exit 1
fi

warn=(-Wall -Wextra -Werror)
san=(-g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)

step "C API tests (ASan + UBSan)"
gcc -std=c11 "${warn[@]}" "${san[@]}" tests/c/test_api.c "${hangar_flags[@]}" -lpthread -o "$scratch/test_api"
"$scratch/test_api" "$scratch/asan"

step "C API tests under valgrind (no leaks, no invalid accesses)"
gcc -std=c11 "${warn[@]}" -g tests/c/test_api.c "${hangar_flags[@]}" -lpthread -o "$scratch/test_api_plain"
# valgrind's defaults, as users run it: a "possibly lost" block fails too. The installed
# suppression file holds one entry, glibc's thread DTV (crates/hangar-ffi/valgrind.supp).
supp=$(pkg-config --variable=valgrind_supp hangar)
[ -f "$supp" ] || { echo "the valgrind suppressions were not installed at $supp" >&2; exit 1; }
valgrind -q --leak-check=full --error-exitcode=3 --suppressions="$supp" \
  "$scratch/test_api_plain" "$scratch/valgrind"

step "every function with NULL, wrong-kind and freed arguments (generated from hangar.h; ASan, then valgrind)"
python3 tests/c/gen_abi_sweep.py "$prefix/include/hangar.h" "$scratch/abi_sweep.c"
gcc -std=c11 "${warn[@]}" "${san[@]}" "$scratch/abi_sweep.c" "${hangar_flags[@]}" -o "$scratch/abi_sweep"
"$scratch/abi_sweep" "$scratch/sweep-asan"
gcc -std=c11 "${warn[@]}" -g "$scratch/abi_sweep.c" "${hangar_flags[@]}" -o "$scratch/abi_sweep_plain"
valgrind -q --leak-check=full --error-exitcode=3 --suppressions="$supp" \
  "$scratch/abi_sweep_plain" "$scratch/sweep-valgrind"

step "the tutorial in C (shared library, ASan)"
gcc -std=c11 "${warn[@]}" "${san[@]}" examples/c/tutorial.c "${hangar_flags[@]}" -o "$scratch/tutorial"
"$scratch/tutorial" "$scratch/tutorial-repo" > "$scratch/tutorial.log"
grep -q "hello world, this is my first hangar commit" "$scratch/tutorial.log"
grep -q "second writer: HANGAR_E_LOCKED" "$scratch/tutorial.log"
grep -q "matches what was written: yes" "$scratch/tutorial.log"
grep -q "len(mnist_training_images) = 10000" "$scratch/tutorial.log"
[ "$(tail -c1 "$scratch/tutorial.log" | wc -l)" -eq 1 ] || { echo "the C tutorial's output does not end with a newline" >&2; exit 1; }

step "the tutorial in C (static library)"
# shellcheck disable=SC2046
gcc -std=c11 "${warn[@]}" examples/c/tutorial.c $(pkg-config --cflags hangar) \
  "$prefix/lib/libhangar.a" $(pkg-config --libs-only-other --static hangar | sed 's/-lhangar//') \
  -lpthread -ldl -lm -o "$scratch/tutorial_static"
if ldd "$scratch/tutorial_static" | grep -q libhangar; then
  echo "the static build links libhangar.so" >&2; exit 1
fi
"$scratch/tutorial_static" "$scratch/tutorial-static-repo" > /dev/null

step "a CMake project: find_package(hangar), shared and static, C and C++"
# configure BUILD_DIR PREFIX [ARGS...]: the consumer project configured against PREFIX.
configure() {
  local build=$1 from=$2
  shift 2
  cmake -S tests/c/cmake -B "$build" -DCMAKE_PREFIX_PATH="$from" -DHANGAR_REPO="$root" "$@"
}
abi=${soname#libhangar.so.}  # major.minor, what the installed version starts with
cmake_build=$scratch/cmake-build
configure "$cmake_build" "$prefix" -DCMAKE_BUILD_TYPE=Release > "$scratch/cmake.log"
grep -q "found libhangar $abi" "$scratch/cmake.log" \
  || { cat "$scratch/cmake.log"; echo "find_package(hangar) did not report the installed version" >&2; exit 1; }
cmake --build "$cmake_build" -j 2 > "$scratch/cmake-build.log" || { cat "$scratch/cmake-build.log"; exit 1; }
if readelf -d "$cmake_build/tutorial_c_static" | grep -q 'NEEDED.*libhangar'; then
  echo "hangar::hangar_static links libhangar.so" >&2; exit 1
fi
readelf -d "$cmake_build/tutorial_c" | grep -q "NEEDED.*\[$soname\]" \
  || { echo "hangar::hangar does not link $soname" >&2; exit 1; }
for prog in tutorial_c tutorial_c_static tutorial_cpp; do
  "$cmake_build/$prog" "$scratch/cmake-$prog-repo" > "$scratch/cmake-$prog.log"
  grep -q "hello world, this is my first hangar commit" "$scratch/cmake-$prog.log" \
    || { echo "$prog built by CMake did not finish the tutorial" >&2; exit 1; }
done
# Versions the installed one does not satisfy are refused, saying which was found.
for want in 0.2 1.0 9; do
  if configure "$scratch/cmake-want-$want" "$prefix" -DHANGAR_WANT="$want" > "$scratch/cmake-want.log" 2>&1; then
    echo "find_package(hangar $want) accepted libhangar $abi" >&2; exit 1
  fi
  grep -qF "version: $abi." "$scratch/cmake-want.log" \
    || { cat "$scratch/cmake-want.log"; echo "the refusal of $want does not name the version found" >&2; exit 1; }
done
# The package finds its files relative to itself: a copy of the prefix elsewhere works
# (configured and linked against the copy), and one missing a file says so rather than
# giving a target that fails to link.
cp -a "$prefix" "$scratch/moved-prefix"
configure "$scratch/cmake-moved" "$scratch/moved-prefix" > "$scratch/cmake-moved.log"
grep -q "headers in $scratch/moved-prefix/include" "$scratch/cmake-moved.log" \
  || { cat "$scratch/cmake-moved.log"; echo "the moved prefix's package points elsewhere" >&2; exit 1; }
rm "$scratch/moved-prefix/lib/libhangar.a"
if configure "$scratch/cmake-broken" "$scratch/moved-prefix" > "$scratch/cmake-broken.log" 2>&1; then
  echo "find_package(hangar) accepted a prefix without libhangar.a" >&2; exit 1
fi
grep -q "libhangar.a is missing" "$scratch/cmake-broken.log" \
  || { cat "$scratch/cmake-broken.log"; echo "the refusal does not name the missing file" >&2; exit 1; }
echo "refused: 0.2, 1.0, 9 and a prefix without libhangar.a; a moved prefix works"

step "hangar.h alone as C99 and as C++17"
printf '#include <hangar.h>\nint main(void) { return hangar_version() == 0; }\n' > "$scratch/header.c"
gcc -std=c99 -pedantic "${warn[@]}" "$scratch/header.c" "${hangar_flags[@]}" -o "$scratch/header_c"
cp "$scratch/header.c" "$scratch/header.cpp"
g++ -std=c++17 -pedantic "${warn[@]}" "$scratch/header.cpp" "${hangar_flags[@]}" -o "$scratch/header_cpp"
"$scratch/header_c" && "$scratch/header_cpp"

step "symbols: declared in hangar.h <=> exported by libhangar.so"
grep -oE '\bhangar_[a-z0-9_]+\(' "$prefix/include/hangar.h" | tr -d '(' | sort -u > "$scratch/declared"
nm -D --defined-only "$prefix/lib/libhangar.so" | awk '$2 == "T" && $3 ~ /^hangar_/ {print $3}' | sort -u > "$scratch/exported"
if ! diff -u "$scratch/declared" "$scratch/exported"; then
  echo "hangar.h and libhangar.so disagree (- declared only, + exported only)" >&2; exit 1
fi
echo "$(wc -l < "$scratch/declared") functions, all declared and exported"

step "C++ binding (ASan + UBSan)"
g++ -std=c++17 "${warn[@]}" -Wpedantic "${san[@]}" -Ibindings/cpp/include bindings/cpp/test/test_hangar.cpp \
  "${hangar_flags[@]}" -lpthread -o "$scratch/test_cpp"
"$scratch/test_cpp" "$scratch/cpp"
g++ -std=c++17 "${warn[@]}" "${san[@]}" -Ibindings/cpp/include bindings/cpp/examples/tutorial.cpp \
  "${hangar_flags[@]}" -o "$scratch/tutorial_cpp"
"$scratch/tutorial_cpp" "$scratch/tutorial-cpp-repo" > "$scratch/tutorial_cpp.log"
[ "$(tail -c1 "$scratch/tutorial_cpp.log" | wc -l)" -eq 1 ] || { echo "the C++ tutorial's output does not end with a newline" >&2; exit 1; }
grep -q "hello world, this is my first hangar commit" "$scratch/tutorial_cpp.log"

step "Julia binding: every ccall against hangar.h"
python3 bindings/julia/check_ccalls.py "$prefix/include/hangar.h" bindings/julia/src
python3 bindings/julia/gen_lib.py "$prefix/include/hangar.h" "$scratch/LibHangar.jl" > /dev/null
if ! diff -u bindings/julia/src/LibHangar.jl "$scratch/LibHangar.jl"; then
  echo "bindings/julia/src/LibHangar.jl is stale: python3 bindings/julia/gen_lib.py include/hangar.h" >&2
  exit 1
fi
# The checker must catch a wrong argument count, a wrong type, and an unknown symbol.
mkdir -p "$scratch/julia-bad"
for broken in 's/(Ptr{Cvoid}, Cstring, Ptr{UInt8}, Csize_t), repo, rev, buf, len)/(Ptr{Cvoid}, Cstring, Ptr{UInt8}), repo, rev, buf, len)/' \
              's/Cint, (Ptr{Cvoid}, Ptr{Csize_t}), column, out)/Cint, (Ptr{Cvoid}, Ptr{Int32}), column, out)/' \
              's/(:hangar_repo_free,/(:hangar_repo_release,/'; do
  sed "$broken" bindings/julia/src/LibHangar.jl > "$scratch/julia-bad/LibHangar.jl"
  if cmp -s bindings/julia/src/LibHangar.jl "$scratch/julia-bad/LibHangar.jl"; then
    echo "self-test edit '$broken' changed nothing" >&2; exit 1
  fi
  if python3 bindings/julia/check_ccalls.py "$prefix/include/hangar.h" "$scratch/julia-bad" 2> /dev/null; then
    echo "check_ccalls.py missed: $broken" >&2; exit 1
  fi
done

step "Julia binding: the mistakes Julia shows only at run time (static checks)"
python3 bindings/julia/check_julia.py bindings/julia/src
# The checker must catch each class it names, as the binding once had them: a Base
# function defined as its own, a raw pointer passed to a C call, the library path fixed
# at precompile time, a handle type without show, one without unsafe_convert.
for broken in 'Hangar.jl|s/^function Base.merge!(/function merge!(/' \
              'Hangar.jl|s/L.hangar_repo_summary(repo,/L.hangar_repo_summary(ptr(repo),/' \
              'LibHangar.jl|s/^const libhangar = .*/const libhangar = get(ENV, "HANGAR_LIB", "libhangar")/;/^function __init__/,/^end/d' \
              'Hangar.jl|/^Base.show(io::IO, r::Repository) =/,+1d' \
              'Hangar.jl|/Base.unsafe_convert(::Type{Ptr{Cvoid}}, h::\$T)/d'; do
  file=${broken%%|*}
  rm -rf "$scratch/julia-static" && cp -r bindings/julia/src "$scratch/julia-static"
  sed "${broken#*|}" "bindings/julia/src/$file" > "$scratch/julia-static/$file"
  if cmp -s "bindings/julia/src/$file" "$scratch/julia-static/$file"; then
    echo "self-test edit '$broken' changed nothing" >&2; exit 1
  fi
  if python3 bindings/julia/check_julia.py "$scratch/julia-static" 2> /dev/null > /dev/null; then
    echo "check_julia.py missed: $broken" >&2; exit 1
  fi
done
echo "check_julia.py caught all 5 classes of mistake"

if command -v julia > /dev/null; then
  step "Julia binding tests"
  HANGAR_LIB="$prefix/lib/libhangar.so" julia --project=bindings/julia -e 'using Pkg; Pkg.test()'
else
  echo "(julia is not installed here: the binding's own tests were skipped)"
fi
echo "C/C++ tests passed"
