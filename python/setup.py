"""Builds the blobstore package: the Python layer and the _core extension,
compiled from the C library's own sources (no separate install needed).
Offline: pip install --no-build-isolation ./python"""

import glob
import os
import subprocess

from setuptools import Extension, setup

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)


def pkg(flag):
    deps = ["liblz4", "libzstd", "zlib", "sqlite3", "jansson", "libcrypto", "libxxhash", "blosc",
            "snappy", "libbrotlidec", "libpq", "libcurl"]
    return subprocess.check_output(["pkg-config", flag, *deps], text=True).split()


sources = sorted(
    s
    for s in glob.glob(os.path.join(root, "src", "**", "*.c"), recursive=True)
    if os.sep + "cli" + os.sep not in s
)
sources = [os.path.relpath(s, here) for s in sources]
libs = [f[2:] for f in pkg("--libs") if f.startswith("-l")]

setup(
    name="blobstore",
    version="0.1.0",
    packages=["blobstore"],
    package_data={"blobstore": ["py.typed", "*.pyi"]},
    ext_modules=[
        Extension(
            "blobstore._core",
            sources=["blobstore/_core.c", *sources],
            include_dirs=[os.path.join(root, "include"), os.path.join(root, "src")],
            define_macros=[("_GNU_SOURCE", None), ("BLOBSTORE_BUILDING", None)],
            extra_compile_args=["-std=c11", "-O2", "-fvisibility=hidden"]
            + [f for f in pkg("--cflags") if f.startswith("-I")],
            libraries=libs + ["m"],
        )
    ],
)
