"""Builds libhangar (the `hangar-ffi` crate of this repository, a cdylib) with cargo and
ships it inside the `hangar` package, where `hangar._ffi` loads it with ctypes."""

import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools_rust import Binding, RustExtension, Strip


class FreshBuildPy(build_py):
    """Copies the package into a clean build directory: pip builds a local directory in
    place, and setuptools only adds to `build/lib`, so a module the checkout no longer
    has (renamed or removed by an update) would otherwise still be installed."""

    def run(self):
        shutil.rmtree(os.path.join(self.build_lib, "hangar"), ignore_errors=True)
        super().run()


setup(
    cmdclass={"build_py": FreshBuildPy},
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
