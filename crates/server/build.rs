//! Release builds of the `ostiary` binary lay out its code in the order of `symbol-order.txt`: the
//! functions a running server executes, packed together at the start of `.text`, instead of
//! spread over its 24 MiB. The kernel maps a binary's code 64 KiB at a time around each page a
//! process touches, so packed code keeps an idle server at about 23 MiB of memory instead of 33,
//! and the hot paths share fewer pages and TLB entries (docs/performance.md, "Code laid out in
//! the order it runs"). `scripts/symbol-order.sh` writes the file; a function it does not name
//! (new, renamed, or not run by the benchmark) is placed after the named ones, as before, so a
//! stale file costs memory, never correctness.
//!
//! Only lld reads this ordering file. rust-lld is the default linker of `x86_64-unknown-linux-gnu`
//! since Rust 1.90, so the file is used there, with that toolchain or newer, when no other linker
//! is configured; `OSTIARY_SYMBOL_ORDER=off` builds without it in any case.

fn main() {
    println!("cargo:rerun-if-changed=symbol-order.txt");
    println!("cargo:rerun-if-env-changed=OSTIARY_SYMBOL_ORDER");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    // `PROFILE` is `release` for the release profile and the profiles that inherit from it.
    let wanted = var("PROFILE") == "release"
        && var("TARGET") == "x86_64-unknown-linux-gnu"
        && var("OSTIARY_SYMBOL_ORDER") != "off"
        && links_with_rust_lld(&var("CARGO_ENCODED_RUSTFLAGS"), &var("RUSTC_LINKER"));
    let file = std::path::Path::new(&var("CARGO_MANIFEST_DIR")).join("symbol-order.txt");
    if wanted && file.exists() {
        // `-Xlinker` hands the option over whole (`-Wl,` would split a path at its commas).
        println!("cargo:rustc-link-arg-bin=ostiary=-Xlinker");
        println!("cargo:rustc-link-arg-bin=ostiary=--symbol-ordering-file={}", file.display());
        // Names from another build (a dependency upgraded, a function renamed) are skipped quietly.
        println!("cargo:rustc-link-arg-bin=ostiary=-Xlinker");
        println!("cargo:rustc-link-arg-bin=ostiary=--no-warn-symbol-ordering");
    }
}

/// Whether the link will be done by rustc's own rust-lld: Rust 1.90 or newer, and neither a linker
/// (`RUSTC_LINKER`, set by cargo when one is configured for the target) nor linker flags that
/// choose another (`-fuse-ld=`, `-C linker-features=-lld`, `-C linker=`) in the build's flags.
fn links_with_rust_lld(rustflags: &str, linker: &str) -> bool {
    if !linker.is_empty() {
        return false;
    }
    let overridden = rustflags
        .split('\x1f')
        .any(|flag| flag.contains("fuse-ld") || flag.contains("linker-features") || flag.contains("linker="));
    if overridden {
        return false;
    }
    // A pre-release of 1.90 counts as older: the list is then left out, which is always safe.
    rustc_version::version().is_ok_and(|v| v >= rustc_version::Version::new(1, 90, 0))
}
