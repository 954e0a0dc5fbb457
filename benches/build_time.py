#!/usr/bin/env python3
"""What depending on plain-client costs at build time.

For one TLS feature, makes two throwaway library crates in a temporary folder:

- a baseline that depends only on what plain-client's own requests stand on: graphql_client
  (without default features), reqwest (the same TLS backend, http2), serde and tokio, declared
  as plain-client declares them;
- a dependent that depends on this checkout of plain-client by path, with that TLS feature and
  nothing else (the library only).

Each is built from clean, in a target folder of its own, with `cargo build` and
`cargo build --release`, offline after one `cargo fetch`; both start from this checkout's
Cargo.lock, so they build the same versions. It records each build's wall time and its CPU
time (user plus system of cargo and every process under it), and prints the ratios
dependent / baseline. CPU time holds on a loaded machine; wall time does not.

    CARGO_BUILD_JOBS=1 nice -n 19 python3 benches/build_time.py --tls rustls
"""

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The goal: a crate depending on plain-client builds in at most this many times the baseline's
# CPU time.
GOAL = 1.5

# For each TLS feature of plain-client: reqwest's features, and what else the baseline needs.
TLS = {
    "rustls": (["rustls"], ""),
    "rustls-ring": (
        ["rustls-no-provider"],
        'rustls = { version = "0.23", default-features = false, features = ["ring", "std", "tls12"] }\n',
    ),
    "native-tls": (["native-tls"], ""),
}


def baseline_manifest(tls):
    reqwest_features, extra = TLS[tls]
    features = ", ".join(f'"{f}"' for f in reqwest_features + ["http2"])
    return (
        '[package]\nname = "baseline"\nversion = "0.0.0"\nedition = "2021"\n\n'
        "[dependencies]\n"
        'graphql_client = { version = "0.16", default-features = false }\n'
        f'reqwest = {{ version = "0.13", default-features = false, features = [{features}] }}\n'
        'serde = { version = "1", features = ["derive"] }\n'
        'tokio = { version = "1", features = ["time", "sync", "rt"] }\n'
        f"{extra}"
    )


def dependent_manifest(tls):
    path = str(ROOT).replace("\\", "/")
    return (
        '[package]\nname = "dependent"\nversion = "0.0.0"\nedition = "2021"\n\n'
        "[dependencies]\n"
        f'plain-client = {{ path = "{path}", default-features = false, features = ["{tls}"] }}\n'
    )


def make_crate(folder, manifest, lib):
    (folder / "src").mkdir(parents=True)
    (folder / "Cargo.toml").write_text(manifest)
    (folder / "src" / "lib.rs").write_text(lib)
    # Start from the checkout's versions; cargo drops what the crate does not use.
    shutil.copy(ROOT / "Cargo.lock", folder / "Cargo.lock")


def cargo_env():
    env = dict(os.environ)
    # A clean build: no compiler cache, no shared target folder.
    for name in ("RUSTC_WRAPPER", "CARGO_BUILD_RUSTC_WRAPPER", "CARGO_TARGET_DIR"):
        env.pop(name, None)
    env["CARGO_TERM_COLOR"] = "never"
    return env


def timed_build(folder, release, log):
    """One clean build; returns (wall seconds, CPU seconds)."""
    target = folder / ("target-release" if release else "target-debug")
    shutil.rmtree(target, ignore_errors=True)
    command = ["cargo", "build", "--offline", "--lib", "--target-dir", str(target)]
    if release:
        command.append("--release")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    result = subprocess.run(command, cwd=folder, env=cargo_env(), stdout=log, stderr=log)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed in {folder}: see {log.name}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tls", choices=sorted(TLS), default="rustls", help="plain-client's TLS feature"
    )
    parser.add_argument(
        "--profile", choices=["debug", "release", "both"], default="both", help="which builds"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="plain-client-build-time-"))
    log_path = work / "cargo.log"
    baseline, dependent = work / "baseline", work / "dependent"
    make_crate(
        baseline,
        baseline_manifest(args.tls),
        "pub use {graphql_client, reqwest, serde, tokio};\n",
    )
    make_crate(dependent, dependent_manifest(args.tls), "pub use plain_client;\n")

    jobs = os.environ.get("CARGO_BUILD_JOBS", str(os.cpu_count()))
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"TLS feature {args.tls}; {rustc}; {os.cpu_count()} cores, CARGO_BUILD_JOBS={jobs}; "
          f"{platform.system()} {platform.release()}; load average at start "
          f"{os.getloadavg()[0]:.2f}")

    profiles = ["debug", "release"] if args.profile == "both" else [args.profile]
    rows = []
    with open(log_path, "w") as log:
        for folder in (baseline, dependent):
            fetched = subprocess.run(["cargo", "fetch"], cwd=folder, env=cargo_env(),
                                     stdout=log, stderr=log)
            if fetched.returncode != 0:
                sys.exit(f"cargo fetch failed in {folder}: see {log_path}")
        for profile in profiles:
            release = profile == "release"
            base_wall, base_cpu = timed_build(baseline, release, log)
            dep_wall, dep_cpu = timed_build(dependent, release, log)
            rows.append((profile, base_wall, base_cpu, dep_wall, dep_cpu))
            print(f"{profile}: baseline {base_wall:.1f} s wall, {base_cpu:.1f} s CPU; "
                  f"dependent {dep_wall:.1f} s wall, {dep_cpu:.1f} s CPU", flush=True)

    print()
    print("| TLS | profile | baseline wall (s) | baseline CPU (s) | dependent wall (s) "
          "| dependent CPU (s) | ratio, CPU | ratio, wall |")
    print("|---|---|---|---|---|---|---|---|")
    missed = False
    for profile, base_wall, base_cpu, dep_wall, dep_cpu in rows:
        ratio_cpu, ratio_wall = dep_cpu / base_cpu, dep_wall / base_wall
        missed |= ratio_cpu > GOAL
        print(f"| {args.tls} | {profile} | {base_wall:.1f} | {base_cpu:.1f} | {dep_wall:.1f} "
              f"| {dep_cpu:.1f} | {ratio_cpu:.2f} | {ratio_wall:.2f} |")
    print()
    print(f"goal: dependent / baseline CPU time at most {GOAL}: {'MISSED' if missed else 'met'}")

    if args.keep:
        print(f"kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
