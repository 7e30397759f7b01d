"""Builds the blobstore package: the Python layer and the _core extension,
compiled from the C library's own sources (no separate install needed), and
the network backend modules libblobstore-pg.so and libblobstore-s3.so in
blobstore/blobstore/ (when libpq and libcurl are installed), which the library loads the first
time a postgresql:// or s3:// URL is used (src/module.h).
Offline: pip install --no-build-isolation ./python"""

import glob
import os
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)


def deps(part):
    """pkg-config names of a part in deps/packages.txt, the one list of
    dependencies (columns: Debian package, pkg-config name, parts)."""
    names = []
    with open(os.path.join(root, "deps", "packages.txt")) as f:
        for line in f:
            fields = line.split("#", 1)[0].split()
            if len(fields) >= 3 and fields[1] != "-" and part in fields[2].split(","):
                names.append(fields[1])
    return names


def pkg(flag, names):
    return subprocess.check_output(["pkg-config", flag, *names], text=True).split()


def found(names):
    return subprocess.call(["pkg-config", "--exists", *names]) == 0


def rel(paths):
    return [os.path.relpath(p, here) for p in paths]


# The network modules' files are built into the modules, not into _core.
MODULES = {
    "pg": ["src/meta_pg.c", "src/module_shim.c"],
    "s3": ["src/blob_s3.c", "src/s3_xml.c", "src/module_shim.c"],
}
module_files = {os.path.join(root, f) for files in MODULES.values() for f in files}
sources = sorted(
    s
    for s in glob.glob(os.path.join(root, "src", "**", "*.c"), recursive=True)
    if os.sep + "cli" + os.sep not in s and s not in module_files
)
core = deps("core")
include_dirs = [os.path.join(root, "include"), os.path.join(root, "src")]
cflags = ["-std=c11", "-O2", "-fvisibility=hidden"]

extensions = [
    Extension(
        "blobstore._core",
        sources=["blobstore/_core.c", *rel(sources)],
        include_dirs=include_dirs,
        define_macros=[("_GNU_SOURCE", None), ("BLOBSTORE_BUILDING", None)],
        extra_compile_args=cflags + [f for f in pkg("--cflags", core) if f.startswith("-I")],
        libraries=[f[2:] for f in pkg("--libs", core) if f.startswith("-l")] + ["m"],
    )
]
for name, files in MODULES.items():
    names = deps(name)
    if not found(names):
        print(f"setup.py: {' '.join(names)} not found: libblobstore-{name}.so is not built "
              "(its backend reports that it is not installed)", file=sys.stderr)
        continue
    extensions.append(
        Extension(
            f"blobstore.libblobstore-{name}",
            sources=rel(os.path.join(root, f) for f in files),
            include_dirs=include_dirs,
            define_macros=[("_GNU_SOURCE", None)],
            extra_compile_args=cflags + [f for f in pkg("--cflags", names) if f.startswith("-I")],
            libraries=[f[2:] for f in pkg("--libs", names) if f.startswith("-l")],
        )
    )


class BuildExt(build_ext):
    """The modules are named and placed as the library looks for them: in a
    directory blobstore/ beside the library (_core), as libblobstore-pg.so.
    Python never imports them; that directory has no __init__.py, so tools
    that walk the package (stubtest, pkgutil) do not take them for modules."""

    def get_ext_filename(self, fullname):
        if fullname.rsplit(".", 1)[-1].startswith("libblobstore-"):
            *package, name = fullname.split(".")
            return os.path.join(*package, "blobstore", name + ".so")
        return super().get_ext_filename(fullname)


setup(
    name="blobstore",
    version="0.1.0",
    packages=["blobstore"],
    package_data={"blobstore": ["py.typed", "*.pyi"]},
    ext_modules=extensions,
    cmdclass={"build_ext": BuildExt},
)
