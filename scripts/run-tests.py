#!/usr/bin/env python3
"""Runs the workspace's test binaries a few at a time (scripts/test.sh step "cargo test").

`cargo test` runs one test binary after another. Most of our binaries spend their time waiting
(on vcsim, a kube-apiserver, a sink's backoff), so this builds every test target once with
`cargo test --no-run` and then runs several binaries at once, each exactly as cargo would (its
package directory as working directory, cargo's environment variables), longest first. Each
binary's output is printed whole when it ends, with cargo's `Running` header, so the log reads
like cargo's; a line every PROGRESS seconds names the binaries still running. The doc tests run
as one more job (`cargo test --doc`). Exit status 1 when any test failed.

Usage: scripts/run-tests.py [-j JOBS] [-p PACKAGE]... [--no-doc] [-- ARGS FOR EACH BINARY]
       scripts/run-tests.py --build-only --list FILE [-p PACKAGE]...
       scripts/run-tests.py --list FILE [-j JOBS] [--no-doc] [-- ARGS]

  -j JOBS        binaries at once (default: TEST_JOBS, else 3)
  -p PACKAGE     only this package's tests (repeatable; default: the whole workspace)
  --no-doc       leave the doc tests out
  --build-only   build, write the test binaries to FILE (--list) and stop
  --list FILE    with --build-only: where to write them; else: run the binaries FILE names,
                 without calling cargo (so a cargo command elsewhere may hold the build lock)

Also builds (does not run) every bench and example, so `cargo bench` targets still compile.
The order comes from target/test-times.json, written by the previous run (a fresh clone uses
the built-in guess below).
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time

# Before a first run has measured anything: the binaries known to take longest, first.
SLOW_FIRST = [
    ("adapter-bin", "it"),
    ("controller-bin", "it"),
    ("kn-vsphere", "it"),
    ("vsphere-sim", "it"),
    ("release-tests", "it"),
    ("vsphere-client", "it"),
]
PROGRESS = int(os.environ.get("PROGRESS_INTERVAL_SECONDS", "60"))


def log(msg):
    print(f"run-tests: {msg}", flush=True)


def build(packages, root):
    """The test binaries of the selection, as `cargo test` builds them, and its benches built too.

    Two cargo runs: `cargo test --no-run` with cargo's default targets (libs, bins, integration
    tests, and examples built as programs, which some tests run), then `--benches` so the
    benches compile (in the test profile, sharing its artifacts). Not `--all-targets`: it builds
    examples as test harnesses only (the tests that run an example would not find it) and bins
    marked `test = false` as harnesses (the fuzz target, which would then fuzz forever)."""
    selection = [a for p in packages for a in ("-p", p)] or ["--workspace"]
    binaries = []
    for extra in ([], ["--benches"]):
        cmd = ["cargo", "test", "--no-run", *extra, "--message-format=json-render-diagnostics"]
        binaries += cargo_test_binaries(cmd + selection, root, runnable=not extra)
    return binaries


def cargo_test_binaries(cmd, root, runnable):
    """Runs `cmd` (a `cargo test --no-run`); the test binaries it built when `runnable`."""
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, text=True)
    binaries = []
    for line in proc.stdout:
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            sys.stdout.write(line)
            continue
        if msg.get("reason") == "compiler-message":
            rendered = msg.get("message", {}).get("rendered")
            if rendered:
                sys.stderr.write(rendered)
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
            continue
        target = msg["target"]
        # What `cargo test` runs: the unit tests of libs and bins, and integration tests, unless
        # the target says `test = false`.
        if (
            not runnable
            or not msg["profile"]["test"]
            or not target.get("test", True)
            or not set(target["kind"]) & {"lib", "bin", "test", "proc-macro"}
        ):
            continue
        binaries.append(
            {
                "package": msg["package_id"],
                "name": target["name"],
                "kind": target["kind"][0],
                "src": target["src_path"],
                "exe": msg["executable"],
                "manifest": msg["manifest_path"],
            }
        )
    if proc.wait() != 0:
        log(f"`{' '.join(cmd)}` failed (exit {proc.returncode})")
        sys.exit(proc.returncode)
    return binaries


def package_name(package_id, manifest):
    """The package's name (package ids differ between cargo versions; the manifest does not)."""
    # path+file:///work/crates/adapter-bin#0.1.0 or path+file:///…#name@0.1.0
    frag = package_id.rsplit("#", 1)[-1]
    if "@" in frag:
        return frag.split("@", 1)[0]
    return os.path.basename(os.path.dirname(manifest))


def cargo_env(b):
    """The environment variables cargo sets for a test binary it runs."""
    env = dict(os.environ)
    env["CARGO_MANIFEST_DIR"] = os.path.dirname(b["manifest"])
    env["CARGO_MANIFEST_PATH"] = b["manifest"]
    env["CARGO_PKG_NAME"] = b["pkg"]
    env["CARGO_CRATE_NAME"] = b["name"].replace("-", "_")
    env.setdefault("CARGO", "cargo")
    return env


def relpath(path, root):
    return os.path.relpath(path, root)


def main():
    ap = argparse.ArgumentParser(add_help=True, description=__doc__.split("\n\n")[0])
    ap.add_argument("-j", "--jobs", type=int, default=int(os.environ.get("TEST_JOBS", "3")))
    ap.add_argument("-p", "--package", action="append", default=[])
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--list")
    ap.add_argument("args", nargs="*")
    opts = ap.parse_args()
    if opts.jobs < 1:
        ap.error("-j must be at least 1")
    if opts.build_only and not opts.list:
        ap.error("--build-only needs --list FILE")

    if opts.list and not opts.build_only:
        with open(opts.list, encoding="utf-8") as f:
            saved = json.load(f)
        root, target_dir, binaries = saved["root"], saved["target_dir"], saved["binaries"]
        if not opts.no_doc:
            ap.error("--list runs no doc tests (they need cargo): add --no-doc")
    else:
        root = subprocess.run(
            ["cargo", "locate-project", "--workspace", "--message-format=plain"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
        root = os.path.dirname(root)
        target_dir = json.loads(
            subprocess.run(
                ["cargo", "metadata", "--format-version=1", "--no-deps"],
                cwd=root, check=True, capture_output=True, text=True,
            ).stdout
        )["target_directory"]
        binaries = build(opts.package, root)
        for b in binaries:
            b["pkg"] = package_name(b["package"], b["manifest"])
            b["key"] = f"{b['pkg']}/{b['kind']}/{b['name']}"
        if opts.build_only:
            with open(opts.list, "w", encoding="utf-8") as f:
                json.dump({"root": root, "target_dir": target_dir, "binaries": binaries}, f, indent=1)
            log(f"{len(binaries)} test binaries built, listed in {opts.list}")
            return

    times_path = os.path.join(target_dir, "test-times.json")
    try:
        with open(times_path, encoding="utf-8") as f:
            known = json.load(f)
    except (OSError, ValueError):
        known = {}

    def expected(b):
        if b["key"] in known:
            return known[b["key"]]
        for i, (pkg, name) in enumerate(SLOW_FIRST):
            if b["pkg"] == pkg and b["name"] == name:
                return 1000 - i
        return 1

    jobs = sorted(binaries, key=expected, reverse=True)
    if not opts.no_doc:
        doc = ["cargo", "test", "--doc"] + ([a for p in opts.package for a in ("-p", p)] or ["--workspace"])
        # Doc tests compile each example: as much CPU as a long binary; start it early.
        jobs.insert(min(1, len(jobs)), {"key": "doctests", "doc": doc, "pkg": "", "name": "doc"})

    log(f"{len(binaries)} test binaries{'' if opts.no_doc else ' and the doc tests'}, {opts.jobs} at a time")
    lock = threading.Lock()
    running = {}
    results = {}
    queue = list(jobs)
    failed = []

    def run_one(job):
        start = time.monotonic()
        if "doc" in job:
            cmd, cwd, env = job["doc"], root, dict(os.environ)
            header = "   Doc-tests (cargo test --doc)"
        else:
            cmd = [job["exe"]] + opts.args
            cwd = os.path.dirname(job["manifest"])
            env = cargo_env(job)
            header = f"     Running {relpath(job['src'], cwd)} ({relpath(job['exe'], root)})"
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        elapsed = time.monotonic() - start
        with lock:
            del running[job["key"]]
            results[job["key"]] = elapsed
            print(f"{header} [{job['pkg'] or 'workspace'}, {elapsed:.0f}s]", flush=True)
            sys.stdout.write(proc.stdout)
            sys.stdout.flush()
            if proc.returncode != 0:
                failed.append(f"{job['key']} (exit {proc.returncode})")

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                job = queue.pop(0)
                running[job["key"]] = time.monotonic()
            run_one(job)

    started = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(opts.jobs)]
    for t in threads:
        t.start()
    last = started
    while any(t.is_alive() for t in threads):
        time.sleep(1)
        now = time.monotonic()
        if now - last < PROGRESS:
            continue
        last = now
        with lock:
            if running:
                names = ", ".join(f"{k} ({now - s:.0f}s)" for k, s in running.items())
                log(f"{now - started:.0f}s: running {names}; {len(queue)} waiting")

    try:
        known.update(results)
        with open(times_path, "w", encoding="utf-8") as f:
            json.dump(known, f, indent=1, sort_keys=True)
    except OSError:
        pass
    log(f"all test binaries ran in {time.monotonic() - started:.0f}s")
    if failed:
        log("FAILED: " + "; ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
