"""Builds libhangar (the `hangar-ffi` crate of this repository, a cdylib) with cargo and
ships it inside the `hangar` package, where `hangar._ffi` loads it with ctypes."""

from setuptools import setup
from setuptools_rust import Binding, RustExtension, Strip

setup(
    rust_extensions=[
        RustExtension(
            "hangar._libhangar",
            path="../../crates/hangar-ffi/Cargo.toml",
            binding=Binding.NoBinding,
            py_limited_api=False,
            args=["--locked"],
            # Debug line tables stay out of the shipped library (45 MB -> a few MB).
            strip=Strip.Debug,
        )
    ],
)
