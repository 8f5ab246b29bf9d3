"""Fails when two Cargo.lock files pin different versions of a package both use: the
fuzz targets must exercise the code the daemon runs, not a newer patch release of it.

Usage: python3 .ci/same-locks.py Cargo.lock fuzz/Cargo.lock
"""

import sys
import tomllib


def versions(path):
    with open(path, "rb") as lock:
        packages = tomllib.load(lock)["package"]
    pinned = {}
    for package in packages:
        pinned.setdefault(package["name"], set()).add(package["version"])
    return pinned


def main(first, second):
    a, b = versions(first), versions(second)
    differing = sorted(name for name in a.keys() & b.keys() if a[name] != b[name])
    for name in differing:
        print(f"{name}: {first} has {sorted(a[name])}, {second} has {sorted(b[name])}")
    if differing:
        print(f"{len(differing)} packages differ; copy {first} over {second} and run "
              f"`cargo tree --manifest-path {second.rsplit('/', 1)[0]}/Cargo.toml` to add its own")
        return 1
    print(f"{second} pins the versions of {first}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
